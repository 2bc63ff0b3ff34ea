-- Reverts 0080. Audit outcomes and failure reasons are dropped; the session limit stops applying.
DROP INDEX IF EXISTS audit_log_event_type_created_idx;
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_failure_reason_needs_failure, DROP COLUMN IF EXISTS failure_reason, DROP COLUMN IF EXISTS outcome;
ALTER TABLE organization_security_settings DROP COLUMN IF EXISTS max_concurrent_sessions, DROP COLUMN IF EXISTS allow_concurrent_sessions;
