-- Reverts 0085. The run history is lost; the sweeps themselves keep no other state.
DROP POLICY IF EXISTS membership_invitations_admin_scope ON membership_invitations;
DROP TABLE IF EXISTS maintenance_runs;
