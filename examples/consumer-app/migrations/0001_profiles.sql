-- 0001 profiles
-- The application's own table, next to the package's: applied after the package's
-- migrations and recorded in the ledger app_migrations (platform-data db migrate --dir migrations).
CREATE TABLE profiles (
  user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  locale  text NOT NULL DEFAULT 'en'
);
