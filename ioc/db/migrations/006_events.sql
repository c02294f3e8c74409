-- Events. `rx_seq` is the hub's receive order (what websocket resume follows: edge
-- clocks and outbox replays make `ts` arrive out of order); `ts` is when it happened
-- (what search, stats and TimescaleDB partitioning follow).
-- `event_keys` makes `id` unique on its own: a hypertable's unique keys must contain
-- the time column, and a resent event must be a duplicate even with a different ts.
CREATE SEQUENCE IF NOT EXISTS event_rx_seq;

CREATE TABLE IF NOT EXISTS event_keys (
    id     uuid PRIMARY KEY,
    ts     timestamptz NOT NULL,
    rx_seq bigint NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS events (
    rx_seq      bigint NOT NULL,
    id          uuid NOT NULL,
    edge        text NOT NULL,
    seq         bigint NOT NULL,
    camera      text NOT NULL,
    unit        text NOT NULL,
    type        text NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    ts          timestamptz NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    evidence    jsonb NOT NULL DEFAULT '[]',
    complete    boolean NOT NULL DEFAULT true,
    received_at timestamptz NOT NULL DEFAULT now(),
    ack_by      text,
    ack_at      timestamptz,
    PRIMARY KEY (id, ts)
);
CREATE INDEX IF NOT EXISTS events_rx_seq ON events (rx_seq);
CREATE INDEX IF NOT EXISTS events_ts_id ON events (ts DESC, id DESC);
CREATE INDEX IF NOT EXISTS events_unit_ts ON events (unit, ts DESC);
CREATE INDEX IF NOT EXISTS events_camera_ts ON events (camera, ts DESC);
CREATE INDEX IF NOT EXISTS events_type_ts ON events (type text_pattern_ops, ts DESC);

-- Which evidence files each event names; drives "incomplete until the files arrive"
-- and the scope check on evidence downloads.
CREATE TABLE IF NOT EXISTS event_evidence (
    event_id uuid NOT NULL,
    event_ts timestamptz NOT NULL,
    sha256   text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    kind     text NOT NULL,
    unit     text NOT NULL,
    PRIMARY KEY (event_id, sha256)
);
CREATE INDEX IF NOT EXISTS event_evidence_sha ON event_evidence (sha256);

CREATE TABLE IF NOT EXISTS evidence_files (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL CHECK (size >= 0),
    mime        text NOT NULL,
    path        text NOT NULL,
    verified    boolean NOT NULL DEFAULT true,
    uploaded_by text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Payload text search (plates) uses a trigram index when pg_trgm exists.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS events_payload_trgm ON events USING gin ((payload::text) gin_trgm_ops);
    END IF;
END
$$;
