-- 0088 Where an audited request came from: country and region, as the application supplied them
-- Inputs: run by the owner after 0087.
--   country: ISO 3166-1 alpha-2 code ("DE"), region: ISO 3166-2 subdivision code ("DE-BY"); both
--   optional and taken from the caller's ClientContext (the application's own GeoIP or its CDN's
--   header, e.g. CloudFront-Viewer-Country). The package ships no IP-to-location database and looks
--   nothing up. Erasure clears both with ip and user_agent (they locate a person).
-- Errors: check_violation (mapped to ConflictError) for a malformed code — input is validated first.

ALTER TABLE audit_log
  ADD COLUMN country text CHECK (country ~ '^[A-Z]{2}$'),
  ADD COLUMN region text CHECK (region ~ '^[A-Z]{2}-[A-Z0-9]{1,3}$');
GRANT UPDATE (country, region) ON audit_log TO platform_app;
