-- 0120 A sign-in's issuing transaction as one statement (issue 22: login round trips)
-- Inputs: run by the owner after 0117.
-- SessionIssuer made eight round trips for the transaction that creates a session (BEGIN and the tenant
-- settings, session INSERT, advisory lock, user status FOR SHARE, refresh-token INSERT, audit INSERT,
-- revoke-oldest UPDATE, COMMIT). This function does the same writes in the same transaction, so the
-- caller sends it in one pipeline with the tenant settings (PostgresConnection.scopedQuery: one round trip,
-- one implicit transaction that commits at the Sync, or rolls back entirely on any error).
-- SECURITY INVOKER: it runs as the caller (platform_app) under row-level security and the tenant settings
-- the pipeline set, exactly as the separate statements did; it grants nothing the caller does not have.
-- platform_issue_sign_in_session(...) → one row:
--   status:  the user's status read under FOR SHARE after the advisory lock; NULL when the user row is not
--            visible. When it is not 'active' / 'pending_verification' nothing is written and session is NULL.
--   session: the new session row (id p_session_id; unconfirmed with expires_at = now + p_window_seconds when
--            p_window_seconds is not NULL, else confirmed at creation).
--   revoked: the user's oldest live sessions in the organization beyond p_keep_others (besides the new one),
--            revoked with their refresh tokens, their Redis halves queued in session_cache_revocations and an
--            `auth.session.revoked` audit event each; a JSON array of {id, user_id, organization_id,
--            access_token_jti, expires_at, cache_revocation_id}, [] when none.
-- Ordering kept from the statements it replaces: the advisory lock `sessions:<user>:<organization>` serialises
-- sign-ins of the user in the organization (two racing sign-ins cannot both see room under the limit); the
-- status read under FOR SHARE makes a suspension either commit first (seen: nothing written) or wait for this
-- commit (its revoke-all then sees the session). plpgsql takes a new snapshot per statement (VOLATILE), so the
-- statements after the lock see what a sign-in that held it before committed.
-- The audit arrays ($16–$28) are the 13 columns of audit_log, one element per event, as
-- AuditRepository's inserts pass them (validated by the caller).
-- Errors: those of the statements (unique violation on access_token_jti, RLS violations on a mismatched scope).

CREATE FUNCTION platform_issue_sign_in_session(
  p_session_id uuid, p_user_id uuid, p_organization_id uuid, p_access_token_jti text, p_device text, p_ip inet,
  p_user_agent text, p_ttl_seconds integer, p_window_seconds integer,
  p_refresh_id uuid, p_refresh_token_hash bytea, p_refresh_family_id uuid, p_refresh_ttl_seconds integer,
  p_keep_others integer, p_revoke_reason text,
  p_audit_ids uuid[], p_audit_created_at timestamptz[], p_audit_event_types text[], p_audit_organization_ids uuid[],
  p_audit_actor_user_ids uuid[], p_audit_ips inet[], p_audit_user_agents text[], p_audit_countries text[],
  p_audit_regions text[], p_audit_risk_scores int2[], p_audit_details jsonb[], p_audit_outcomes text[],
  p_audit_failure_reasons text[],
  OUT status text, OUT session public.sessions, OUT revoked jsonb)
  LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
  AS $$
  #variable_conflict use_column
  BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('sessions:' || p_user_id || ':' || p_organization_id, 0));
    SELECT u.status INTO status FROM public.users u WHERE u.id = p_user_id FOR SHARE;
    IF status IS NULL OR status NOT IN ('active', 'pending_verification') THEN
      RETURN;
    END IF;

    INSERT INTO public.sessions (id, user_id, organization_id, access_token_jti, device, ip, user_agent, expires_at, absolute_expires_at, confirmed_at)
    VALUES (p_session_id, p_user_id, p_organization_id, p_access_token_jti, p_device, p_ip, p_user_agent,
            now() + make_interval(secs => coalesce(p_window_seconds, p_ttl_seconds)), now() + make_interval(secs => p_ttl_seconds),
            CASE WHEN p_window_seconds IS NULL THEN now() END)
    RETURNING * INTO session;

    INSERT INTO public.refresh_tokens (id, session_id, user_id, organization_id, token_hash, family_id, parent_id, expires_at)
    VALUES (p_refresh_id, p_session_id, p_user_id, p_organization_id, p_refresh_token_hash, p_refresh_family_id, NULL,
            least(now() + make_interval(secs => p_refresh_ttl_seconds), session.absolute_expires_at));

    INSERT INTO public.audit_log (id, created_at, event_type, organization_id, actor_user_id, ip, user_agent, country, region, risk_score, details, outcome, failure_reason)
    SELECT * FROM unnest(p_audit_ids, p_audit_created_at, p_audit_event_types, p_audit_organization_ids, p_audit_actor_user_ids,
                         p_audit_ips, p_audit_user_agents, p_audit_countries, p_audit_regions, p_audit_risk_scores, p_audit_details,
                         p_audit_outcomes, p_audit_failure_reasons);

    -- The concurrent-session limit (Keycloak's "Terminate oldest session"), as SessionRepository.revokeOldestWithin did.
    WITH over AS (
      UPDATE public.sessions s SET revoked_at = now(), revoked_reason = p_revoke_reason
      WHERE s.id IN (SELECT o.id FROM public.sessions o
                     WHERE o.user_id = p_user_id AND o.organization_id = p_organization_id AND o.id <> p_session_id
                       AND o.revoked_at IS NULL AND o.expires_at > now()
                     ORDER BY o.created_at DESC, o.id DESC OFFSET p_keep_others)
        AND s.revoked_at IS NULL
      RETURNING s.id, s.user_id, s.organization_id, s.access_token_jti, s.expires_at),
    tokens AS (
      UPDATE public.refresh_tokens t SET revoked_at = now(), revoked_reason = p_revoke_reason, replacement_token_encrypted = NULL
      WHERE t.session_id IN (SELECT id FROM over) AND t.revoked_at IS NULL),
    queued AS (
      INSERT INTO public.session_cache_revocations (user_id, session_id, access_token_jti, session_expires_at)
      SELECT user_id, id, access_token_jti, expires_at FROM over
      RETURNING id, session_id),
    audited AS (
      INSERT INTO public.audit_log (id, created_at, event_type, organization_id, risk_score, details)
      -- A version 7 UUID (RFC 9562, 5.7), as the application's audit ids: Unix milliseconds in the first 48 bits, version 7.
      SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                                            PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
                                    52, 1), 53, 1), 'hex')::uuid,
             now(), 'auth.session.revoked', o.organization_id, 0,
             jsonb_build_object('sessionId', o.id, 'userId', o.user_id, 'reason', p_revoke_reason, 'newSessionId', p_session_id)
      FROM over o)
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'user_id', o.user_id, 'organization_id', o.organization_id,
                                                 'access_token_jti', o.access_token_jti, 'expires_at', o.expires_at,
                                                 'cache_revocation_id', q.id)), '[]'::jsonb)
      INTO revoked
      FROM over o JOIN queued q ON q.session_id = o.id;
  END
  $$;
REVOKE ALL ON FUNCTION platform_issue_sign_in_session(uuid, uuid, uuid, text, text, inet, text, integer, integer, uuid, bytea, uuid, integer, integer, text,
  uuid[], timestamptz[], text[], uuid[], uuid[], inet[], text[], text[], text[], int2[], jsonb[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_issue_sign_in_session(uuid, uuid, uuid, text, text, inet, text, integer, integer, uuid, bytea, uuid, integer, integer, text,
  uuid[], timestamptz[], text[], uuid[], uuid[], inet[], text[], text[], text[], int2[], jsonb[], text[], text[]) TO platform_app;
