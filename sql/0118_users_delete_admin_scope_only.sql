-- 0118 The application deletes a user row only in admin scope (erasure)
-- Inputs: run by the owner after 0117.
--   users_delete_user_scope (0070) let platform_app delete a user's row in that user's own scope: the
--   compensation of a sign-up whose organization could not be created (AccountRepository.deleteOrphanUser).
--   Account creation is one transaction since, so nothing deletes a user that way; the policy goes. A user
--   row is deleted only by erasure, in admin scope (users_admin_scope, 0070), which keeps the DELETE grant.
-- Errors: none expected.

DROP POLICY users_delete_user_scope ON users;
