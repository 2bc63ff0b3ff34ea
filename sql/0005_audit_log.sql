-- 0005 audit_log, partitioned by month on created_at (UTC months)
-- Partitions are named audit_log_pYYYYMM. A DEFAULT partition catches rows
-- whose month has no partition yet, so a missed maintenance run never loses
-- an event (it only makes that month's partition creation fail until the
-- default is emptied — run audit_log_ensure_partitions ahead of time).
-- No foreign keys: the audit trail outlives the users and organizations it
-- names, until retention drops its partition.
--
-- audit_log_ensure_partitions(months_ahead int = 3) → int
--   creates the partitions for the current month and months_ahead following
--   ones; returns how many it created. Safe to run concurrently.
-- audit_log_drop_partitions(retention_days int = 90) → setof text
--   drops every monthly partition whose whole range is older than
--   now() - retention_days; returns the dropped names. Never drops DEFAULT.
-- Both are maintenance (DDL) for the owner; platform_app cannot execute them.

CREATE TABLE audit_log (
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at       timestamptz NOT NULL DEFAULT now(),
  event_type       text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_.]{0,99}$'),
  organization_id  uuid,
  actor_user_id    uuid,
  ip               inet,
  user_agent       text CHECK (length(user_agent) <= 1000),
  risk_score       smallint NOT NULL DEFAULT 0 CHECK (risk_score BETWEEN 0 AND 100),
  details          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object'),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

CREATE INDEX audit_log_organization_created_idx ON audit_log (organization_id, created_at DESC);
CREATE INDEX audit_log_actor_created_idx ON audit_log (actor_user_id, created_at DESC) WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_log_high_risk_idx ON audit_log (created_at DESC) WHERE risk_score >= 70;

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

CREATE FUNCTION audit_log_ensure_partitions(months_ahead integer DEFAULT 3) RETURNS integer
  LANGUAGE plpgsql
  AS $$
DECLARE
  first_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
  month_start timestamp;
  name text;
  created integer := 0;
BEGIN
  IF months_ahead < 0 OR months_ahead > 36 THEN
    RAISE EXCEPTION 'months_ahead must be between 0 and 36' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR i IN 0..months_ahead LOOP
    month_start := first_month + make_interval(months => i);
    name := 'audit_log_p' || to_char(month_start, 'YYYYMM');
    CONTINUE WHEN to_regclass(name) IS NOT NULL;
    BEGIN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
        name,
        (month_start AT TIME ZONE 'UTC'),
        ((month_start + interval '1 month') AT TIME ZONE 'UTC')
      );
      created := created + 1;
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
      -- Another session created it between the check and the CREATE.
      NULL;
    END;
  END LOOP;
  RETURN created;
END
$$;

CREATE FUNCTION audit_log_drop_partitions(retention_days integer DEFAULT 90) RETURNS SETOF text
  LANGUAGE plpgsql
  AS $$
DECLARE
  part record;
  month_end timestamptz;
BEGIN
  IF retention_days < 1 THEN
    RAISE EXCEPTION 'retention_days must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR part IN
    SELECT c.relname
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_p[0-9]{6}$'
    ORDER BY c.relname
  LOOP
    month_end := (to_timestamp(substr(part.relname, 12), 'YYYYMM')::timestamp + interval '1 month') AT TIME ZONE 'UTC';
    IF month_end <= now() - make_interval(days => retention_days) THEN
      EXECUTE format('DROP TABLE %I', part.relname);
      RETURN NEXT part.relname;
    END IF;
  END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION audit_log_ensure_partitions(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit_log_drop_partitions(integer) FROM PUBLIC;

SELECT audit_log_ensure_partitions(3);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
-- Append-only for the application: it may read and write its own organization's
-- events; events without an organization (e.g. failed logins for unknown
-- emails) are written by the owner.
CREATE POLICY audit_log_select ON audit_log FOR SELECT
  USING (organization_id = platform_current_organization_id());
CREATE POLICY audit_log_insert ON audit_log FOR INSERT
  WITH CHECK (organization_id = platform_current_organization_id());
GRANT SELECT, INSERT ON audit_log TO platform_app;
