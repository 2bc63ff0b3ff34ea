import { randomBytes } from 'node:crypto';
import { ValidationError } from '../errors.js';
import { hashToken, tokensEqual } from './secret-token.js';

/**
 * MFA recovery codes: `xxxx-xxxx-xxxx-xxxx` in Crockford's Base32 (no i, l, o, u), 80 bits each.
 *
 * 80 bits make an offline guess of a leaked SHA-256 hopeless, so a fast hash is safe and
 * a code can be consumed with one indexed, atomic
 * `UPDATE … SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
 * which is what makes each code single-use under concurrency (bcrypt would force a scan).
 */

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_CHARS = 16;
const GROUP = 4;
export const DEFAULT_RECOVERY_CODE_COUNT = 10;

export interface RecoveryCodes {
  /** Shown to the user once, in this order. */
  readonly codes: readonly string[];
  /** SHA-256 of each normalised code, same order: what is stored. */
  readonly hashes: readonly Buffer[];
}

/**
 * Generates `count` distinct recovery codes and their hashes.
 * @throws ValidationError naming `count` unless it is an integer from 1 to 100.
 */
export function generateRecoveryCodes(count: number = DEFAULT_RECOVERY_CODE_COUNT): RecoveryCodes {
  if (!Number.isInteger(count) || count < 1 || count > 100) {
    throw new ValidationError([{ path: 'count', message: 'must be an integer from 1 to 100' }]);
  }
  const codes = new Set<string>();
  while (codes.size < count) codes.add(formatCode(randomCode()));
  const list = [...codes];
  return { codes: list, hashes: list.map((code) => hashToken(code)) };
}

/**
 * Canonical form of a code as typed: case, spaces and hyphens ignored; o→0 and i/l→1 as Crockford
 * prescribes, since users misread them. Returns `undefined` for anything that cannot be a code.
 */
export function normalizeRecoveryCode(input: string): string | undefined {
  const compact = input
    .toLowerCase()
    .replace(/[\s-]+/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  if (compact.length !== CODE_CHARS || [...compact].some((c) => !ALPHABET.includes(c))) return undefined;
  return formatCode(compact);
}

/**
 * The stored hash of a typed code, for the repository's single-use UPDATE.
 * @throws ValidationError naming `recoveryCode` when the input cannot be a recovery code.
 */
export function hashRecoveryCode(input: string): Buffer {
  const code = normalizeRecoveryCode(input);
  if (!code) throw new ValidationError([{ path: 'recoveryCode', message: 'is not a recovery code' }]);
  return hashToken(code);
}

/**
 * Index of the stored hash the typed code matches, or -1. Every hash is compared in constant
 * time and the loop never exits early, so timing reveals neither a match nor its position.
 * For in-memory checks; with a database prefer the atomic UPDATE above.
 */
export function matchRecoveryCode(input: string, storedHashes: readonly Uint8Array[]): number {
  const code = normalizeRecoveryCode(input);
  const candidate = hashToken(code ?? input);
  let found = -1;
  for (const [index, stored] of storedHashes.entries()) {
    if (tokensEqual(candidate, stored) && found === -1 && code !== undefined) found = index;
  }
  return found;
}

function randomCode(): string {
  // 32 symbols = 5 bits: mask each random byte, which is unbiased because 256 is a multiple of 32.
  return [...randomBytes(CODE_CHARS)].map((b) => ALPHABET[b & 31]).join('');
}

function formatCode(compact: string): string {
  const groups: string[] = [];
  for (let i = 0; i < compact.length; i += GROUP) groups.push(compact.slice(i, i + GROUP));
  return groups.join('-');
}
