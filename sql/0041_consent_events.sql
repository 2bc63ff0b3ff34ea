-- 0041 consent history (GDPR consent records, COPPA guardian consent)
-- Inputs: run by the owner after 0040. The users table keeps the CURRENT
-- consent (version + time pairs, age_confirmed_at); consent_events keeps every
-- grant and withdrawal, append-only, so "what did this person agree to, and
-- when" can be answered for any past date.
--   kind:    terms | privacy | marketing | age_confirmation | guardian
--   granted: false records a withdrawal
--   source:  where it was given (signup, settings, admin, import …)
--   details: small jsonb without personal data of third parties (for guardian
--            consent: the verification method and a reference, never the
--            guardian's name or email)
-- Deleted with the user (ON DELETE CASCADE): erasure removes the history too.
-- RLS: a user sees and appends only their own events (withUserScope); no
-- UPDATE/DELETE grant, so the history cannot be rewritten by the application.
-- Errors: check_violation consent_events_* (mapped to ConflictError).

CREATE TABLE consent_events (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind         text NOT NULL CONSTRAINT consent_events_kind_check
                 CHECK (kind IN ('terms', 'privacy', 'marketing', 'age_confirmation', 'guardian')),
  version      text CONSTRAINT consent_events_version_check CHECK (length(version) BETWEEN 1 AND 50),
  granted      boolean NOT NULL,
  source       text NOT NULL DEFAULT 'unspecified' CHECK (length(source) BETWEEN 1 AND 50),
  details      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object' AND length(details::text) <= 4096),
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_user_idx ON consent_events (user_id, recorded_at, id);

ALTER TABLE consent_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_events FORCE ROW LEVEL SECURITY;
CREATE POLICY consent_events_owner ON consent_events
  USING (user_id = platform_current_user_id())
  WITH CHECK (user_id = platform_current_user_id());
GRANT SELECT, INSERT ON consent_events TO platform_app;
