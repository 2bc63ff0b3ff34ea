-- Reverts 0065. Revocations still queued for Redis are lost: run after Redis has been reachable for a while (the queue is then empty).
DROP TABLE IF EXISTS session_cache_revocations;
