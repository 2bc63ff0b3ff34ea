-- Reverts 0118: the user-scope DELETE policy of 0070 again.
CREATE POLICY users_delete_user_scope ON users FOR DELETE TO platform_app
  USING (platform_current_organization_id() IS NULL AND id = platform_current_user_id());
