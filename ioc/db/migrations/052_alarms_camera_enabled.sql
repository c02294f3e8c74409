-- The wall's alarm workflow and disabled cameras (issue 10).
--
-- `alarms` holds the workflow of a warning or critical event beyond the acknowledgement
-- that `events.ack_by/ack_at` already records: who it is assigned to, and its resolution
-- with a note. It is a plain table keyed by the event id, not columns on `events`: the
-- events table may be a compressed TimescaleDB hypertable, where updating old chunks is
-- costly, and most events never enter the workflow. Every change is also written to the
-- append-only audit_log by the hub.
CREATE TABLE IF NOT EXISTS alarms (
    event_id    uuid PRIMARY KEY,
    event_ts    timestamptz NOT NULL,
    unit        text NOT NULL,
    assignee    text,
    assigned_by text,
    assigned_at timestamptz,
    resolved_by text,
    resolved_at timestamptz,
    note        text CHECK (note IS NULL OR length(note) <= 2000),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alarms_unit ON alarms (unit, updated_at DESC);

-- A camera its edge declares disabled ("declared but not opened") is shown as disabled,
-- not as a camera that lost its signal.
ALTER TABLE cameras ADD COLUMN IF NOT EXISTS enabled boolean NOT NULL DEFAULT true;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_app') THEN
        GRANT SELECT, INSERT, UPDATE ON alarms TO ioc_app;
    END IF;
END
$$;
