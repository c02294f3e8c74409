-- Meetings between administrative units (issue 5).
--
-- A meeting is chaired by one unit and invites one subtree of the unit tree (the
-- unit `invited_root` and everything below it). Each tier joins through the relay of
-- its own unit, so the relay addresses are stored per meeting and unit; an endpoint
-- uses the relay of the nearest unit at or above its own.
-- Idempotent: every statement may run again on an upgraded database.

CREATE TABLE IF NOT EXISTS meetings (
    id            uuid        PRIMARY KEY,
    title         text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    chair_unit    text        NOT NULL REFERENCES units (code),
    invited_root  text        NOT NULL REFERENCES units (code),
    scheduled_at  timestamptz NOT NULL,
    duration_min  integer     NOT NULL DEFAULT 60 CHECK (duration_min BETWEEN 1 AND 1440),
    state         text        NOT NULL DEFAULT 'scheduled'
                              CHECK (state IN ('scheduled', 'running', 'ended')),
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    ended_at      timestamptz,
    -- a meeting cannot end before it started
    CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at)
);

CREATE INDEX IF NOT EXISTS meetings_state_idx ON meetings (state, scheduled_at);
CREATE INDEX IF NOT EXISTS meetings_invited_root_idx ON meetings (invited_root);

CREATE TABLE IF NOT EXISTS meeting_relays (
    meeting_id  uuid NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    unit        text NOT NULL REFERENCES units (code),
    url         text NOT NULL CHECK (url ~ '^wss?://' AND length(url) <= 500),
    PRIMARY KEY (meeting_id, unit)
);

-- One row per stay of an endpoint in a meeting: joined_at when the relay admitted it,
-- left_at when it left (NULL while inside). The relay reports both; a repeated report
-- of the same join (same endpoint and time) is stored once.
CREATE TABLE IF NOT EXISTS meeting_attendance (
    id          bigserial   PRIMARY KEY,
    meeting_id  uuid        NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    endpoint    text        NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 128),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit        text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('chair', 'participant', 'viewer', 'relay')),
    relay_unit  text,
    joined_at   timestamptz NOT NULL,
    left_at     timestamptz,
    CHECK (left_at IS NULL OR left_at >= joined_at)
);

CREATE UNIQUE INDEX IF NOT EXISTS meeting_attendance_join_uq
    ON meeting_attendance (meeting_id, endpoint, joined_at);
CREATE INDEX IF NOT EXISTS meeting_attendance_open_idx
    ON meeting_attendance (meeting_id, endpoint) WHERE left_at IS NULL;
