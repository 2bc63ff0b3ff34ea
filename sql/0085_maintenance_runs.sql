-- 0085 Scheduled maintenance: the record of each run, and what the sweeps may delete
-- Inputs: run by the owner after 0070.
-- `Maintenance` (src/flows/operations/maintenance.ts) runs retention jobs
-- (audit partitions, expired tokens, ended sessions and refresh-token
-- families, voice cache, invitations). Each run of a job is one row here:
--   job:           the job's name (closed list in the code; checked by format only)
--   runner:        which process ran it (host:pid:random), for the operator
--   status:        running → succeeded | failed; skipped when another runner held the job's lock
--   rows_affected: rows deleted (or partitions created/dropped) by the run
--   batches:       how many bounded statements it took
--   error:         the error's code and message when failed (never a secret: messages are the package's own)
-- Runs of the application role in admin scope (platform.admin_actor set), like every cross-tenant sweep.
-- Also lets that scope delete membership invitations (0060 gave only tenant policies).
-- Errors: none expected.

CREATE TABLE maintenance_runs (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job            text NOT NULL CHECK (job ~ '^[a-z][a-z0-9-]{0,63}$'),
  runner         text NOT NULL CHECK (length(runner) BETWEEN 1 AND 200),
  status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  rows_affected  bigint NOT NULL DEFAULT 0 CHECK (rows_affected >= 0),
  batches        integer NOT NULL DEFAULT 0 CHECK (batches >= 0),
  error          text CHECK (length(error) <= 2000),
  CONSTRAINT maintenance_runs_finished_pair CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX maintenance_runs_job_started_idx ON maintenance_runs (job, started_at DESC);

ALTER TABLE maintenance_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY maintenance_runs_admin_scope ON maintenance_runs TO platform_app
  USING (platform_current_admin_actor() IS NOT NULL) WITH CHECK (platform_current_admin_actor() IS NOT NULL);
GRANT SELECT, INSERT, DELETE ON maintenance_runs TO platform_app;
GRANT UPDATE (status, finished_at, rows_affected, batches, error) ON maintenance_runs TO platform_app;

CREATE POLICY membership_invitations_admin_scope ON membership_invitations TO platform_app
  USING (platform_current_admin_actor() IS NOT NULL) WITH CHECK (platform_current_admin_actor() IS NOT NULL);
