-- Reverts 0001_profiles.
DROP TABLE profiles;
