-- 0065 Session-cache revocations not yet applied to Redis (an outbox)
-- Inputs: run by the owner after 0050.
-- A revocation writes PostgreSQL first (sessions.revoked_at) and then Redis
-- (revocation marker, jti denylist, epoch). When Redis is down, frozen or cut
-- off, the second half cannot happen, yet the logout must answer success once
-- PostgreSQL committed; a Redis that comes back with its old data would then
-- still hold a cached record that accepts the session. So the revoking
-- transaction also queues a row here, and the row is deleted once Redis took
-- the revocation. Before the session cache's circuit breaker lets Redis answer
-- validations again (after an outage, and once when a process starts), every
-- queued row is replayed into Redis. Rows are idempotent to replay.
-- One row per revoked session, also for "every session of the user": a
-- replayed epoch advance would also revoke sessions created after the
-- revocation committed, a per-session marker revokes exactly what PostgreSQL did.
--   access_token_jti: the session's access-token jti, denylisted in Redis
--   session_expires_at: how long the Redis marker must live
-- Who reads it: the session flows on the owner pool (pre-tenant auth paths,
-- like sessions' revoke); no tenant data beyond ids, so no RLS.

CREATE TABLE session_cache_revocations (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  session_id         uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  access_token_jti   text NOT NULL,
  session_expires_at timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_cache_revocations_user_idx ON session_cache_revocations (user_id);
CREATE INDEX session_cache_revocations_session_idx ON session_cache_revocations (session_id);

-- The application role queues (inside the revoking transaction) and replays. No row-level security:
-- a replay serves every user, and a row holds identifiers only (session id, jti, expiry), no credential.
GRANT SELECT, INSERT, DELETE ON session_cache_revocations TO platform_app;
