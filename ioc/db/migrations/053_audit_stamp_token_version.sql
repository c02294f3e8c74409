-- Audit rows the application cannot back-date, and login tokens it can revoke (issue 8).
--
-- audit_log: a BEFORE INSERT trigger overrides `at` with the server's clock and records
-- which database login wrote the row (`db_login` = session_user, `db_role` = current_user).
-- Neither can be chosen by the INSERT. The `actor` (a person or an edge) stays the hub's
-- statement: the database cannot know who is behind a request; `db_login` shows which
-- connection vouched for it. With IOC_APP_DATABASE_URL the hub logs in as a role that is
-- not the owner, so it cannot disable these triggers either (docs/security.md).
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS db_login text NOT NULL DEFAULT session_user;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS db_role text NOT NULL DEFAULT current_user;

CREATE OR REPLACE FUNCTION audit_log_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.at := clock_timestamp();
    NEW.db_login := session_user;
    NEW.db_role := current_user;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS audit_log_stamp ON audit_log;
CREATE TRIGGER audit_log_stamp BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_stamp();

-- Every login token carries its user's token_version; logout bumps it, so every token
-- issued before no longer verifies.
ALTER TABLE users ADD COLUMN IF NOT EXISTS token_version integer NOT NULL DEFAULT 0;
