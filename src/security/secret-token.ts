import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TokenError, ValidationError } from '../errors.js';

/**
 * Random bearer secrets (refresh tokens, verification and reset tokens, magic links,
 * API keys). Only their SHA-256 is stored: these are 256-bit random values, so a
 * fast hash is enough (nothing to brute-force, unlike passwords) and it lets a
 * repository find a row by `token_hash = $1` in one indexed, atomic statement.
 */

/** Bytes of entropy in a token from {@link generateSecretToken} unless told otherwise. */
export const SECRET_TOKEN_BYTES = 32;

/**
 * A random token, base64url without padding (43 characters for 32 bytes).
 * @throws ValidationError naming `bytes` when fewer than 32 bytes are requested.
 */
export function generateSecretToken(bytes: number = SECRET_TOKEN_BYTES): string {
  if (!Number.isInteger(bytes) || bytes < SECRET_TOKEN_BYTES || bytes > 1024) {
    throw new ValidationError([{ path: 'bytes', message: `must be an integer from ${SECRET_TOKEN_BYTES} to 1024` }]);
  }
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 of a token's UTF-8 bytes: the value stored at rest (a 32-byte `bytea`). */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Constant-time equality of two secrets or hashes. Inputs of different lengths are
 * compared through their SHA-256 digests, so neither the position of the first
 * difference nor a length mismatch shows in the timing.
 */
export function tokensEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** True when `token` hashes to `storedHash` (constant time). */
export function tokenMatchesHash(token: string, storedHash: Uint8Array): boolean {
  return tokensEqual(hashToken(token), storedHash);
}

// --- API keys -------------------------------------------------------------

/** Marks a string as a platform-data API key, which also lets secret scanners recognise leaked keys. */
export const API_KEY_SCHEME = 'pd';
const API_KEY_PREFIX_BYTES = 8;
// The prefix is hex so it never contains the "_" separator; the secret (base64url) may, so it comes last.
const API_KEY = /^pd_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface GeneratedApiKey {
  /** The full key `pd_<prefix>_<secret>`: shown to the user once, never stored. */
  readonly key: string;
  /** Public, unique lookup value (16 hex characters); stored in plaintext and indexed. */
  readonly prefix: string;
  /** SHA-256 of the secret part: what is stored. */
  readonly secretHash: Buffer;
}

export interface ParsedApiKey {
  readonly prefix: string;
  readonly secret: string;
  /** SHA-256 of `secret`, to compare with the stored hash via {@link tokensEqual}. */
  readonly secretHash: Buffer;
}

/** A new API key `pd_<16 hex prefix>_<43-char base64url secret>` with the values to store. */
export function generateApiKey(): GeneratedApiKey {
  const prefix = randomBytes(API_KEY_PREFIX_BYTES).toString('hex');
  const secret = generateSecretToken();
  return { key: `${API_KEY_SCHEME}_${prefix}_${secret}`, prefix, secretHash: hashToken(secret) };
}

/**
 * Splits a presented API key into its lookup prefix and secret.
 * @throws TokenError (`invalid`) when the key is not of the `pd_<prefix>_<secret>` form; the key is not echoed.
 */
export function parseApiKey(key: string): ParsedApiKey {
  const match = API_KEY.exec(key.trim());
  if (!match?.[1] || !match[2]) throw new TokenError('invalid', 'Malformed API key');
  return { prefix: match[1], secret: match[2], secretHash: hashToken(match[2]) };
}
