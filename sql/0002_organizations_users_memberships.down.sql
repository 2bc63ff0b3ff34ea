-- The organizations/users policies read memberships, so they go first.
DROP POLICY IF EXISTS organizations_select ON organizations;
DROP POLICY IF EXISTS users_select ON users;
DROP TABLE IF EXISTS memberships;
DROP FUNCTION IF EXISTS memberships_enforce_owner();
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS organizations;
DROP TYPE IF EXISTS membership_role;
DROP TYPE IF EXISTS user_status;
DROP TYPE IF EXISTS organization_tier;
