-- Proposed traffic violations and the police decision on each (issue 4, review desk).
--
-- A violation is a `traffic.*` event that carries a signed evidence manifest
-- (payload.evidence_manifest) or says payload.violation = true. The row is created by a
-- trigger on `events`, so every ingest path (COPY staging, replay, replicas) makes one,
-- exactly once (event_id is the key). The camera only proposes; an officer decides.
-- `plate_read` is what the edge read and is never changed; `plate` is the current value,
-- which an officer may correct (audited).
CREATE TABLE IF NOT EXISTS violations (
    event_id         uuid PRIMARY KEY,
    event_ts         timestamptz NOT NULL,
    edge             text NOT NULL,
    camera           text NOT NULL,
    unit             text NOT NULL,
    type             text NOT NULL,
    detected_at      timestamptz NOT NULL,
    -- The owner must be identified within 10 days of detection (Decree 135/2025 practice).
    deadline         timestamptz NOT NULL,
    state            text NOT NULL DEFAULT 'proposed' CHECK (state IN ('proposed', 'confirmed', 'rejected')),
    plate_read       text,
    plate_confidence double precision,
    plate_candidates jsonb NOT NULL DEFAULT '[]',
    plate            text,
    plate_edited_by  text,
    plate_edited_at  timestamptz,
    decided_by       text,
    decided_at       timestamptz,
    reason           text,
    exported_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (state = 'proposed' OR (decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (state <> 'rejected' OR length(btrim(coalesce(reason, ''))) > 0)
);
CREATE INDEX IF NOT EXISTS violations_queue ON violations (state, deadline);
CREATE INDEX IF NOT EXISTS violations_unit ON violations (unit, detected_at DESC);
CREATE INDEX IF NOT EXISTS violations_plate ON violations (upper(regexp_replace(coalesce(plate, ''), '[^A-Za-z0-9]', '', 'g')));
CREATE INDEX IF NOT EXISTS violations_decided ON violations (decided_at DESC) WHERE state <> 'proposed';

CREATE OR REPLACE FUNCTION violations_from_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := NEW.payload;
    reading text;
    conf double precision;
    cands jsonb;
BEGIN
    IF NEW.type NOT LIKE 'traffic.%'
       OR NOT (p ? 'evidence_manifest' OR coalesce(p ->> 'violation', '') = 'true') THEN
        RETURN NULL;
    END IF;
    -- payload.plate is either "59-X1 123.45" or {"text", "confidence", "candidates"}.
    IF jsonb_typeof(p -> 'plate') = 'object' THEN
        reading := p -> 'plate' ->> 'text';
        conf := (p -> 'plate' ->> 'confidence')::double precision;
        cands := coalesce(p -> 'plate' -> 'candidates', '[]');
    ELSE
        reading := p ->> 'plate';
        conf := (p ->> 'plate_confidence')::double precision;
        cands := coalesce(p -> 'plate_candidates', '[]');
    END IF;
    IF jsonb_typeof(cands) <> 'array' THEN
        cands := '[]';
    END IF;
    INSERT INTO violations (event_id, event_ts, edge, camera, unit, type, detected_at, deadline,
                            plate_read, plate_confidence, plate_candidates, plate)
    VALUES (NEW.id, NEW.ts, NEW.edge, NEW.camera, NEW.unit, NEW.type, NEW.ts, NEW.ts + interval '10 days',
            NULLIF(btrim(reading), ''), conf, cands, NULLIF(btrim(reading), ''))
    ON CONFLICT (event_id) DO NOTHING;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS events_make_violation ON events;
CREATE TRIGGER events_make_violation AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION violations_from_event();

-- Backfill events that arrived before this migration (idempotent).
INSERT INTO violations (event_id, event_ts, edge, camera, unit, type, detected_at, deadline)
SELECT e.id, e.ts, e.edge, e.camera, e.unit, e.type, e.ts, e.ts + interval '10 days'
FROM events e
WHERE e.type LIKE 'traffic.%'
  AND (e.payload ? 'evidence_manifest' OR coalesce(e.payload ->> 'violation', '') = 'true')
ON CONFLICT (event_id) DO NOTHING;

-- Evidence of a violation under review or confirmed cannot be purged, by any path
-- (retention job, manual DELETE, the admin API): the database refuses it.
CREATE OR REPLACE FUNCTION evidence_files_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM event_evidence ee JOIN violations v ON v.event_id = ee.event_id
        WHERE ee.sha256 = OLD.sha256 AND v.state IN ('proposed', 'confirmed')
    ) THEN
        RAISE EXCEPTION 'evidence % belongs to a violation under review or confirmed; it cannot be purged', OLD.sha256
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END
$$;
DROP TRIGGER IF EXISTS evidence_files_no_purge ON evidence_files;
CREATE TRIGGER evidence_files_no_purge BEFORE DELETE ON evidence_files
    FOR EACH ROW EXECUTE FUNCTION evidence_files_guard();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_app') THEN
        GRANT SELECT, INSERT, UPDATE ON violations TO ioc_app;
        REVOKE DELETE, TRUNCATE ON violations FROM ioc_app;
    END IF;
END
$$;
