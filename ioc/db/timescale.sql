-- TimescaleDB layout, applied by `ioc db upgrade` (ioc/db/migrate.py) after the numbered
-- migrations whenever the `timescaledb` extension exists in the database. Idempotent: it
-- converts a database first migrated on plain PostgreSQL (TimescaleDB added later), and it
-- corrects the policies of databases that 009 set up with older settings. Not numbered on
-- purpose: it must run again when the server changes, not once per database.
DO $$
DECLARE
    counts_kind "char";
    refresh_job integer;
    refresh_config jsonb;
BEGIN
    -- The plain path's trigger-kept counts table: a hypertable refuses statement triggers
    -- with transition tables, and the continuous aggregate replaces the table.
    SELECT c.relkind INTO counts_kind FROM pg_class c
    WHERE c.relname = 'event_counts_5m' AND c.relnamespace = 'public'::regnamespace;
    IF counts_kind = 'r' THEN
        RAISE WARNING 'converting events and metrics to TimescaleDB hypertables (migrate_data: may take a while on a large database)';
        DROP TRIGGER IF EXISTS events_count_5m ON events;
        DROP FUNCTION IF EXISTS event_counts_5m_add();
        DROP TABLE event_counts_5m;
        counts_kind := NULL;
    END IF;
    DROP INDEX IF EXISTS events_ts_brin;
    DROP INDEX IF EXISTS metrics_ts_brin;

    PERFORM create_hypertable('events', 'ts', chunk_time_interval => INTERVAL '1 day',
                              if_not_exists => TRUE, migrate_data => TRUE);
    PERFORM create_hypertable('metrics', 'ts', chunk_time_interval => INTERVAL '7 days',
                              if_not_exists => TRUE, migrate_data => TRUE);

    IF counts_kind IS NULL THEN
        EXECUTE $v$CREATE MATERIALIZED VIEW event_counts_5m
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, camera, unit, type,
                   count(*)::bigint AS n
            FROM events GROUP BY time_bucket(INTERVAL '5 minutes', ts), camera, unit, type
            WITH NO DATA$v$;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_app') THEN
            GRANT SELECT ON event_counts_5m TO ioc_app;
        END IF;
    END IF;

    -- Refresh window without a start: a policy refresh materialises every range that late
    -- inserts invalidated, however old (an edge replaying its outbox after a week's outage),
    -- not only the last `start_offset`. Buckets that nothing invalidated are not recomputed,
    -- so a run costs what changed. 009 created the policy with start_offset 2 days, which
    -- left everything older than that unmaterialised once the watermark moved past it.
    IF EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
               WHERE view_name = 'event_counts_5m' AND view_schema = 'public') THEN
        SELECT j.job_id, j.config INTO refresh_job, refresh_config FROM timescaledb_information.jobs j
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate'
          AND j.hypertable_schema = 'public' AND j.hypertable_name = 'event_counts_5m';
        IF refresh_job IS NOT NULL AND (refresh_config ->> 'start_offset' IS NOT NULL
                                    OR coalesce((refresh_config ->> 'buckets_per_batch')::int, 0) <> 288) THEN
            PERFORM remove_continuous_aggregate_policy('event_counts_5m');
            refresh_job := NULL;
        END IF;
        IF refresh_job IS NULL THEN
            -- One day of buckets per batch: the first run over 29 days of history took
            -- 1.55 s with the default batching and 0.13 s with this (2.28, 5,000 events).
            PERFORM add_continuous_aggregate_policy('event_counts_5m',
                start_offset => NULL, end_offset => INTERVAL '5 minutes',
                schedule_interval => INTERVAL '5 minutes', buckets_per_batch => 288);
        END IF;
    END IF;

    IF NOT (SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'events') THEN
        ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_orderby = 'ts DESC, id');
    END IF;
    PERFORM add_compression_policy('events', INTERVAL '7 days', if_not_exists => TRUE);
    IF NOT (SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'metrics') THEN
        ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'series');
    END IF;
    PERFORM add_compression_policy('metrics', INTERVAL '30 days', if_not_exists => TRUE);

    -- Events: TimescaleDB's own retention drops whole chunks whatever they hold; ours
    -- (ioc_events_retention below) keeps events whose violation is under review or
    -- confirmed. Metrics keep the stock policy.
    PERFORM remove_retention_policy('events', if_exists => TRUE);
    PERFORM add_retention_policy('metrics', INTERVAL '5 years', if_not_exists => TRUE);
END
$$;

-- Retention of events (a TimescaleDB job, daily). A chunk wholly older than `drop_after`
-- is dropped when no event in it has a violation in state proposed or confirmed; a chunk
-- that holds such events keeps them and loses every other row. Keys and evidence links of
-- removed events go with them. Run it by hand: CALL ioc_events_retention(0, '{}');
CREATE OR REPLACE PROCEDURE ioc_events_retention(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    keep interval := coalesce((config ->> 'drop_after')::interval, INTERVAL '400 days');
    horizon timestamptz := now() - keep;
    ch record;
BEGIN
    FOR ch IN
        SELECT range_start, range_end FROM timescaledb_information.chunks
        WHERE hypertable_schema = 'public' AND hypertable_name = 'events' AND range_end <= horizon
        ORDER BY range_start
    LOOP
        IF EXISTS (SELECT 1 FROM violations v
                   WHERE v.state IN ('proposed', 'confirmed')
                     AND v.event_ts >= ch.range_start AND v.event_ts < ch.range_end) THEN
            DELETE FROM events e
            WHERE e.ts >= ch.range_start AND e.ts < ch.range_end
              AND NOT EXISTS (SELECT 1 FROM violations v
                              WHERE v.event_id = e.id AND v.state IN ('proposed', 'confirmed'));
        ELSE
            PERFORM drop_chunks('events', older_than => ch.range_end, newer_than => ch.range_start);
        END IF;
    END LOOP;
    DELETE FROM event_keys k
    WHERE k.ts < horizon AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = k.id AND e.ts = k.ts);
    DELETE FROM event_evidence ee
    WHERE ee.event_ts < horizon
      AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = ee.event_id AND e.ts = ee.event_ts);
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = 'ioc_events_retention') THEN
        PERFORM add_job('ioc_events_retention', INTERVAL '1 day', config => '{"drop_after": "400 days"}');
    END IF;
END
$$;
