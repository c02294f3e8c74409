-- KPI samples from other departments' systems (administrative-procedure on-time rate,
-- online public services, citizen feedback). A re-sent sample replaces the old value.
CREATE TABLE IF NOT EXISTS metrics (
    series      text NOT NULL CHECK (series ~ '^[a-z0-9_.:-]{1,100}$'),
    unit        text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    uom         text,
    tags        jsonb NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, unit, ts)
);
