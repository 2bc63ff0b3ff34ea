-- 0080 Sign-in policies per organization, and the outcome of audit events (issue 20)
-- Inputs: run by the owner after 0070.
-- organization_security_settings:
--   allow_concurrent_sessions: false = one live session per user in the organization
--   max_concurrent_sessions:   live sessions per user in the organization (default 5, seed CAP Platform);
--                              a sign-in beyond it revokes the user's oldest session there (SessionIssuer)
-- audit_log:
--   outcome:        'success' | 'failure' (NULL for events that are neither, and rows written before 0080)
--   failure_reason: why a failure failed (e.g. wrong_password, unknown_account), ≤ 100 characters
--   audit_log_event_type_created_idx: "every event of a type since …" without scanning the organization index
-- Errors: none new (CHECK violations surface as ValidationError before the INSERT).

ALTER TABLE organization_security_settings
  ADD COLUMN allow_concurrent_sessions boolean NOT NULL DEFAULT true,
  ADD COLUMN max_concurrent_sessions integer NOT NULL DEFAULT 5 CHECK (max_concurrent_sessions BETWEEN 1 AND 1000);

ALTER TABLE audit_log
  ADD COLUMN outcome text CHECK (outcome IN ('success', 'failure')),
  ADD COLUMN failure_reason text CHECK (length(failure_reason) BETWEEN 1 AND 100),
  ADD CONSTRAINT audit_log_failure_reason_needs_failure CHECK (failure_reason IS NULL OR outcome = 'failure');
-- On the partitioned parent: PostgreSQL creates the index on every partition (not CONCURRENTLY: inside the migration's transaction).
CREATE INDEX audit_log_event_type_created_idx ON audit_log (event_type, created_at DESC);
