-- Optional extensions: TimescaleDB (hypertables, compression, retention, continuous
-- aggregates) and pg_trgm (fast payload text search). Each is used only when the server
-- offers it; the schema and every query work without them.
-- TimescaleDB must be in shared_preload_libraries: CREATE EXTENSION on a server that did
-- not preload it ends the session with a FATAL that no EXCEPTION block catches, so it is
-- checked first. `ioc db upgrade` shows these warnings, and converts the database later
-- when the server gains the extension (ioc/db/timescale.sql).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        IF current_setting('shared_preload_libraries') !~ '(^|[\s,/])timescaledb([\s,-]|$)' THEN
            RAISE WARNING 'timescaledb is installed but not in shared_preload_libraries; using plain PostgreSQL. Add shared_preload_libraries = ''timescaledb'' to postgresql.conf, restart the server and run `ioc db upgrade` again to convert';
        ELSE
            BEGIN
                CREATE EXTENSION timescaledb;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'timescaledb is available but could not be created (%); using plain PostgreSQL', SQLERRM;
            END;
        END IF;
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
