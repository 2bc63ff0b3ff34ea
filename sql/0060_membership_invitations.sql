-- 0060 membership invitations
-- Inputs: run by the owner after 0050.
-- Adding an existing user to an organization needs their consent: the
-- organization creates an invitation (MembershipRepository.add); only the
-- invited user, presenting the token, turns it into a membership (accept) or
-- refuses it (decline). Until then the organization sees nothing of the user
-- (the users_select policy follows memberships, not invitations) and its
-- password policy does not apply to them.
--   token_hash:  SHA-256 of a random 256-bit token returned once to the
--                inviting application, which sends it to the user
--   expires_at:  set by the repository (default 7 days)
--   answer:      accepted | declined, set once with answered_at
-- One open invitation per (organization, user). Rows go with the user
-- (erasure deletes the user row) or the organization (ON DELETE CASCADE).
-- RLS: the inviting organization sees and revokes its invitations; the
-- invited user sees their own. Accepting and declining by token run on the
-- owner pool, where the hash is the credential (as for mfa_challenges).

CREATE TABLE membership_invitations (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  invited_by       uuid REFERENCES users (id) ON DELETE SET NULL,
  role             membership_role NOT NULL,
  profile          jsonb NOT NULL DEFAULT '{}'::jsonb,
  token_hash       bytea NOT NULL CHECK (length(token_hash) = 32),
  expires_at       timestamptz NOT NULL,
  answer           text CONSTRAINT membership_invitations_answer_check CHECK (answer IN ('accepted', 'declined')),
  answered_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT membership_invitations_token_hash_key UNIQUE (token_hash),
  CONSTRAINT membership_invitations_answered_check CHECK ((answer IS NULL) = (answered_at IS NULL))
);
CREATE UNIQUE INDEX membership_invitations_open_key ON membership_invitations (organization_id, user_id) WHERE answer IS NULL;
CREATE INDEX membership_invitations_user_idx ON membership_invitations (user_id);
CREATE INDEX membership_invitations_organization_created_idx ON membership_invitations (organization_id, created_at, id);

ALTER TABLE membership_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE membership_invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY membership_invitations_select ON membership_invitations FOR SELECT
  USING (organization_id = platform_current_organization_id() OR user_id = platform_current_user_id());
CREATE POLICY membership_invitations_insert ON membership_invitations FOR INSERT
  WITH CHECK (organization_id = platform_current_organization_id());
CREATE POLICY membership_invitations_delete ON membership_invitations FOR DELETE
  USING (organization_id = platform_current_organization_id());
-- Answering: the invited user, in the inviting organization's scope (the token names both).
CREATE POLICY membership_invitations_answer ON membership_invitations FOR UPDATE
  USING (organization_id = platform_current_organization_id() AND user_id = platform_current_user_id())
  WITH CHECK (organization_id = platform_current_organization_id() AND user_id = platform_current_user_id());
GRANT SELECT, INSERT, DELETE ON membership_invitations TO platform_app;
GRANT UPDATE (answer, answered_at) ON membership_invitations TO platform_app;
