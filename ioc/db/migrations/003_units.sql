-- Administrative units: one tree (province -> district -> commune, any depth).
-- `ancestors` holds the codes from the root down to the unit itself, so "is X inside
-- the subtree of Y" is `Y = ANY(ancestors)` and needs no recursive query.
CREATE TABLE IF NOT EXISTS units (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    level       text NOT NULL CHECK (level ~ '^[a-z_]{1,32}$'),
    parent_code text REFERENCES units (code),
    ancestors   text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS units_ancestors_gin ON units USING gin (ancestors);
CREATE INDEX IF NOT EXISTS units_parent ON units (parent_code);

CREATE OR REPLACE FUNCTION units_set_ancestors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.parent_code IS DISTINCT FROM OLD.parent_code THEN
        RAISE EXCEPTION 'moving unit % to another parent is not supported', OLD.code
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.parent_code IS NULL THEN
        NEW.ancestors := ARRAY[NEW.code];
    ELSE
        NEW.ancestors := (SELECT ancestors FROM units WHERE code = NEW.parent_code) || NEW.code;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS units_ancestors ON units;
CREATE TRIGGER units_ancestors BEFORE INSERT OR UPDATE ON units
    FOR EACH ROW EXECUTE FUNCTION units_set_ancestors();
