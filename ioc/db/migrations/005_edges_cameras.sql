-- Edge workers (bearer token stored as its SHA-256 only) and their cameras.
CREATE TABLE IF NOT EXISTS edges (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    unit         text NOT NULL REFERENCES units (code),
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    public_key   text,
    preview_url  text,
    detector     jsonb,
    outbox_depth integer,
    last_seen    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cameras (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit       text NOT NULL REFERENCES units (code),
    lat        double precision CHECK (lat BETWEEN -90 AND 90),
    lon        double precision CHECK (lon BETWEEN -180 AND 180),
    edge       text REFERENCES edges (id),
    status     text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'online', 'offline')),
    last_seen  timestamptz,
    stats      jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cameras_unit ON cameras (unit);
CREATE INDEX IF NOT EXISTS cameras_edge ON cameras (edge);
