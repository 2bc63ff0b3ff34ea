-- Reverts 0040. Drops the erasure history: only safe where no erasure must still be provable.
DROP TABLE IF EXISTS erasure_steps;
DROP TABLE IF EXISTS erasure_requests;
