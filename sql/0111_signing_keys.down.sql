-- Reverts 0111. Every access token signed so far stops verifying.
DROP TABLE IF EXISTS signing_keys;
