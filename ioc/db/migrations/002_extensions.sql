-- Optional extensions: TimescaleDB (hypertables, compression, retention, continuous
-- aggregates) and pg_trgm (fast payload text search). Each is used only when the server
-- offers it; the schema and every query work without them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'timescaledb is available but could not be created (%); using plain PostgreSQL', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')
       AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_trgm could not be created (%); payload search scans', SQLERRM;
        END;
    END IF;
END
$$;
