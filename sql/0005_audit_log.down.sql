-- Drops the audit trail: only safe before production data exists.
DROP TABLE IF EXISTS audit_log;
DROP FUNCTION IF EXISTS audit_log_drop_partitions(integer);
DROP FUNCTION IF EXISTS audit_log_ensure_partitions(integer);
