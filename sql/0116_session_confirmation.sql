-- platform-data:no-transaction
-- 0116 Sessions confirmed by their first use (issue 16: no live session that no caller holds)
-- Inputs: run by the owner after 0115, outside a transaction under the migrator's session lock (the index is
-- built CONCURRENTLY); every statement is idempotent, so a run interrupted half-way is simply run again.
-- A new session is created unconfirmed with expires_at = now + SESSION_CONFIRM_WINDOW_SECONDS; its first
-- validation or refresh confirms it, once, and moves expires_at to absolute_expires_at (its normal lifetime).
-- A sign-in whose answer died with the process (SIGKILL after the commit) leaves a session nobody can present:
-- unconfirmed, it ends with its window and the maintenance sweep deletes it.
--   confirmed_at:          when the first use confirmed the session; NULL while unconfirmed. Existing rows (and
--                          inserts that do not name it) are confirmed: the default now().
--   absolute_expires_at:   the expiry confirmation gives; NULL means expires_at (rows from before 0116).
-- platform_auth.confirm_session(id): confirms a live unconfirmed session and returns it; any other session is
--   returned as it is (already confirmed, revoked, expired: the caller decides); no row for an unknown id.
-- platform_auth.confirm_session_of_refresh_token(token_hash): confirms the live unconfirmed session of an unrevoked,
--   unexpired refresh token; returns its id, or nothing (no such token, or nothing to confirm). A refresh calls it
--   before it locks the token, so it takes the session's row lock first — the order a revocation takes them
--   (session, then tokens): the two cannot deadlock.
-- Errors: none expected; a half-built index left by a crash is INVALID, dropped by the down file, rebuilt here.

ALTER TABLE sessions ADD COLUMN IF NOT EXISTS confirmed_at timestamptz DEFAULT now();
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS absolute_expires_at timestamptz;
GRANT UPDATE (confirmed_at, expires_at) ON sessions TO platform_auth;

CREATE OR REPLACE FUNCTION platform_auth.confirm_session(p_id uuid) RETURNS SETOF public.sessions
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    WITH confirmed AS (
      UPDATE public.sessions SET confirmed_at = now(), expires_at = coalesce(absolute_expires_at, expires_at)
      WHERE id = p_id AND confirmed_at IS NULL AND revoked_at IS NULL AND expires_at > now()
      RETURNING *)
    SELECT * FROM confirmed
    UNION ALL
    SELECT s.* FROM public.sessions s WHERE s.id = p_id AND NOT EXISTS (SELECT 1 FROM confirmed)
  $$;
ALTER FUNCTION platform_auth.confirm_session(uuid) OWNER TO platform_auth;
REVOKE ALL ON FUNCTION platform_auth.confirm_session(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_auth.confirm_session(uuid) TO platform_app;

CREATE OR REPLACE FUNCTION platform_auth.confirm_session_of_refresh_token(p_token_hash bytea) RETURNS SETOF uuid
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    UPDATE public.sessions s SET confirmed_at = now(), expires_at = coalesce(s.absolute_expires_at, s.expires_at)
    FROM public.refresh_tokens t
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL AND t.expires_at > now() AND s.id = t.session_id
      AND s.confirmed_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > now()
    RETURNING s.id
  $$;
ALTER FUNCTION platform_auth.confirm_session_of_refresh_token(bytea) OWNER TO platform_auth;
REVOKE ALL ON FUNCTION platform_auth.confirm_session_of_refresh_token(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_auth.confirm_session_of_refresh_token(bytea) TO platform_app;

-- The maintenance sweep deletes unconfirmed sessions as soon as their window has passed.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_unconfirmed_idx ON sessions (expires_at) WHERE confirmed_at IS NULL;
