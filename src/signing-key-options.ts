import { z } from 'zod';

/**
 * Policy of the access-token signing keys. `registerFlows` registers
 * {@link DEFAULT_SIGNING_KEY_OPTIONS}; set your own with
 * `createPlatform(config, { signingKeys })` (merged over the defaults, validated).
 */
export const signingKeyOptionsSchema = z
  .object({
    /** JWS algorithm of new keys: `EdDSA` (Ed25519, RFC 8037) or `ES256` (P-256, RFC 7518 §3.4). Existing keys keep theirs. */
    algorithm: z.enum(['EdDSA', 'ES256']),
    /** A key older than this is replaced at the next signature (race-safe across processes). */
    rotateAfterSeconds: z
      .number()
      .int()
      .min(60)
      .max(365 * 86_400),
    /** How long a process uses the key ring it read before reading it again. */
    cacheSeconds: z.number().int().min(1).max(3_600),
    /** Clock skew tolerated on `exp`/`iat`/`nbf` between the signing and the verifying machine. */
    clockToleranceSeconds: z.number().int().min(0).max(300),
    /** `iss` of every token, checked on verification. */
    issuer: z.string().min(1).max(200),
    /** `aud` of every token, checked on verification (RFC 9068 §2.2 requires one). */
    audience: z.string().min(1).max(200),
  })
  .strict();
export type SigningKeyOptions = z.output<typeof signingKeyOptionsSchema>;

export const DEFAULT_SIGNING_KEY_OPTIONS: SigningKeyOptions = Object.freeze({
  algorithm: 'EdDSA',
  rotateAfterSeconds: 30 * 86_400,
  cacheSeconds: 60,
  clockToleranceSeconds: 30,
  issuer: 'platform-data',
  audience: 'platform-data',
});
