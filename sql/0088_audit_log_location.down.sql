-- Reverts 0088. Recorded locations are lost.
ALTER TABLE audit_log DROP COLUMN IF EXISTS region, DROP COLUMN IF EXISTS country;
