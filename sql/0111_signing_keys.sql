-- 0111 access-token signing keys
-- Inputs: run by the owner after 0070.
-- The keys the platform signs access tokens (JWS, RFC 7515) with, and the
-- public keys it publishes as a JWKS (RFC 7517). Not tenant data: one ring
-- for the deployment, so no row-level security (like session_cache_revocations).
--   kid:               the JWS `kid` header of every token signed with the key
--   algorithm:         JWS `alg` (RFC 7518 §3.4 ES256, RFC 8037 §3.1 EdDSA)
--   public_jwk:        the public key as a JWK (no private member), published
--   private_key:       SecretBox envelope (AES-256-GCM, key ring) of the PKCS#8
--                      private key, AAD `signing_keys:<kid>:private_key`
--   retired_at:        set when a newer key took over signing; NULL = active
--   publish_until:     a retired key stays in the JWKS (and verifies) until the
--                      last token it signed has expired; then it is dead
-- At most one active key (signing_keys_one_active). Rotation runs under
-- pg_advisory_xact_lock, so processes rotating at once create one key.

CREATE TABLE signing_keys (
  kid            text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{16,64}$'),
  algorithm      text NOT NULL CHECK (algorithm IN ('EdDSA', 'ES256')),
  public_jwk     jsonb NOT NULL,
  private_key    bytea NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  retired_at     timestamptz,
  publish_until  timestamptz,
  CONSTRAINT signing_keys_retired_check CHECK ((retired_at IS NULL) = (publish_until IS NULL))
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;

GRANT SELECT, INSERT ON signing_keys TO platform_app;
GRANT UPDATE (retired_at, publish_until, private_key) ON signing_keys TO platform_app;
GRANT DELETE ON signing_keys TO platform_app;
