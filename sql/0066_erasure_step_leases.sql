-- 0066 Leases on erasure steps
-- Inputs: run by the owner after 0065.
-- A worker that runs a step holds a lease: `lease_owner` (a random id per
-- worker process) until `lease_expires_at`, renewed by a heartbeat while the
-- step runs. A worker killed mid-step stops renewing; once the lease expired,
-- any worker's sweep (at start and every few seconds) claims the step again
-- and runs it (every step is idempotent). A second delivery of the same job
-- while the lease is live leaves the step to its holder.
--   lease_owner / lease_expires_at: both set while status = 'running', both NULL otherwise
-- Errors: none new.

ALTER TABLE erasure_steps
  ADD COLUMN lease_owner text CHECK (length(lease_owner) BETWEEN 1 AND 100),
  ADD COLUMN lease_expires_at timestamptz,
  ADD CONSTRAINT erasure_steps_lease_pair CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL));
CREATE INDEX erasure_steps_lease_idx ON erasure_steps (lease_expires_at) WHERE status = 'running';
