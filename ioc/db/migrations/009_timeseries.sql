-- Time-series storage. With TimescaleDB: hypertables, compression, retention and a
-- continuous aggregate. Without it: BRIN indexes and an ordinary table of 5-minute
-- counts kept by a statement trigger. Both expose the same relation
-- `event_counts_5m (bucket, camera, unit, type, n)`, so every query is the same SQL.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('events', 'ts', chunk_time_interval => INTERVAL '1 day',
                                  if_not_exists => TRUE, migrate_data => TRUE);
        PERFORM create_hypertable('metrics', 'ts', chunk_time_interval => INTERVAL '7 days',
                                  if_not_exists => TRUE, migrate_data => TRUE);
        BEGIN
            EXECUTE $v$CREATE MATERIALIZED VIEW IF NOT EXISTS event_counts_5m
                WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, camera, unit, type,
                       count(*)::bigint AS n
                FROM events GROUP BY time_bucket(INTERVAL '5 minutes', ts), camera, unit, type
                WITH NO DATA$v$;
            PERFORM add_continuous_aggregate_policy('event_counts_5m',
                start_offset => INTERVAL '2 days', end_offset => INTERVAL '5 minutes',
                schedule_interval => INTERVAL '5 minutes', if_not_exists => TRUE);
        EXCEPTION WHEN OTHERS THEN
            -- Keep the hub usable on an unusual TimescaleDB version: same relation, computed live.
            RAISE WARNING 'continuous aggregate not created (%); using a plain view', SQLERRM;
            EXECUTE $v$CREATE OR REPLACE VIEW event_counts_5m AS
                SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, camera, unit, type,
                       count(*)::bigint AS n
                FROM events GROUP BY 1, 2, 3, 4$v$;
        END;
        BEGIN
            ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_orderby = 'ts DESC, id');
            PERFORM add_compression_policy('events', INTERVAL '7 days', if_not_exists => TRUE);
            ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'series');
            PERFORM add_compression_policy('metrics', INTERVAL '30 days', if_not_exists => TRUE);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'compression not enabled: %', SQLERRM;
        END;
        PERFORM add_retention_policy('events', INTERVAL '400 days', if_not_exists => TRUE);
        PERFORM add_retention_policy('metrics', INTERVAL '5 years', if_not_exists => TRUE);
    ELSE
        CREATE INDEX IF NOT EXISTS events_ts_brin ON events USING brin (ts);
        CREATE INDEX IF NOT EXISTS metrics_ts_brin ON metrics USING brin (ts);

        CREATE TABLE IF NOT EXISTS event_counts_5m (
            bucket timestamptz NOT NULL,
            camera text NOT NULL,
            unit   text NOT NULL,
            type   text NOT NULL,
            n      bigint NOT NULL,
            PRIMARY KEY (bucket, camera, type)
        );
        CREATE INDEX IF NOT EXISTS event_counts_5m_unit ON event_counts_5m (unit, bucket);

        CREATE OR REPLACE FUNCTION event_counts_5m_add() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
            INSERT INTO event_counts_5m AS c (bucket, camera, unit, type, n)
            SELECT date_bin(INTERVAL '5 minutes', ts, TIMESTAMPTZ '2000-01-01'), camera,
                   min(unit), type, count(*)
            FROM new_rows GROUP BY 1, 2, 4
            ON CONFLICT (bucket, camera, type) DO UPDATE SET n = c.n + EXCLUDED.n;
            RETURN NULL;
        END
        $f$;
        DROP TRIGGER IF EXISTS events_count_5m ON events;
        CREATE TRIGGER events_count_5m AFTER INSERT ON events
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION event_counts_5m_add();
    END IF;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_app') THEN
        GRANT SELECT ON event_counts_5m TO ioc_app;
    END IF;
END
$$;
