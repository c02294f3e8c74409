-- Plate search: a trigram index on the plate alone is a fraction of the cost per insert of
-- one on the whole payload text (measured on the ingest path), and plates are what
-- operators search for. Other payload text is still searchable (`q`), within the other
-- filters, without an index.
DROP INDEX IF EXISTS events_payload_trgm;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS events_plate_trgm ON events
            USING gin ((payload->>'plate') gin_trgm_ops) WHERE payload ? 'plate';
    ELSE
        CREATE INDEX IF NOT EXISTS events_plate ON events ((payload->>'plate')) WHERE payload ? 'plate';
    END IF;
END
$$;
