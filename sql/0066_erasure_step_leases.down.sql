-- Reverts 0066. Running steps lose their leases; the reconciler still re-drives open requests.
DROP INDEX IF EXISTS erasure_steps_lease_idx;
ALTER TABLE erasure_steps DROP CONSTRAINT IF EXISTS erasure_steps_lease_pair, DROP COLUMN IF EXISTS lease_expires_at, DROP COLUMN IF EXISTS lease_owner;
