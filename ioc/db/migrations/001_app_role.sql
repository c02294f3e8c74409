-- The application's own database role. `IOC_DB_ROLE=ioc_app` makes every pooled
-- connection `SET ROLE ioc_app`, so the running hub holds only the privileges granted
-- here (no DDL, and no UPDATE/DELETE on the audit log: see 008_audit.sql).
-- Migrations run as the connecting (owner) role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_app') THEN
        BEGIN
            CREATE ROLE ioc_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;  -- another database created it concurrently
            WHEN insufficient_privilege THEN
                RAISE WARNING 'cannot create role ioc_app (no CREATEROLE); the hub will run as the connecting role';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_app') THEN
        EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO ioc_app', current_database());
        GRANT USAGE ON SCHEMA public TO ioc_app;
        -- Tables and sequences created later by this (migrating) role are usable by the app,
        -- including those of other areas' migrations (020-049).
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ioc_app;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ioc_app;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO ioc_app;
    END IF;
END
$$;
