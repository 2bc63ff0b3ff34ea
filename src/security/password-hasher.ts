import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { inject, injectable } from 'tsyringe';
import { CryptoError, ValidationError } from '../errors.js';
import { CONFIG } from '../tokens.js';

/** bcrypt only reads the first 72 bytes of its input; longer passwords are refused, never truncated. */
export const BCRYPT_MAX_PASSWORD_BYTES = 72;

/** Default work factor when none is configured (≈ 240 ms per hash on the reference 2-core machine). */
export const DEFAULT_BCRYPT_COST = 12;

/** The part of `Config` the hasher reads; a full `Config` satisfies it. */
export interface PasswordHasherConfig {
  readonly auth: { readonly bcryptCost: number };
}

// $2b$ is what bcrypt 6 writes; $2a$/$2y$ come from other implementations and still verify.
const BCRYPT_HASH = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

/**
 * Why a password is unacceptable to bcrypt, or `undefined` when it is fine.
 * Shared with the password policy so that both report the same rule.
 */
export function passwordEncodingProblem(password: string): string | undefined {
  if (password.length === 0) return 'must not be empty';
  // bcrypt's C core stops at a NUL byte: everything after it would be silently ignored.
  if (password.includes('\0')) return 'must not contain NUL characters';
  if (Buffer.byteLength(normalizePassword(password), 'utf8') > BCRYPT_MAX_PASSWORD_BYTES) {
    return `must be at most ${BCRYPT_MAX_PASSWORD_BYTES} bytes in UTF-8`;
  }
  return undefined;
}

/**
 * NFKC so that the same password typed on different keyboards / OSes (composed vs
 * decomposed accents, full-width digits) hashes the same, as NIST SP 800-63B advises.
 * ASCII is unchanged, so hashes made elsewhere for ASCII passwords still verify.
 */
function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/**
 * bcrypt password hashing with a configurable cost, rehash detection and a dummy
 * comparison for unknown users.
 *
 * Passwords longer than 72 UTF-8 bytes are **rejected** rather than pre-hashed: hashes
 * stay plain, portable bcrypt (no pepper key to manage or rotate, no custom marker),
 * and 72 bytes is above NIST's 64-character floor for ASCII passphrases.
 *
 * @example
 * const hasher = new PasswordHasher({ auth: { bcryptCost: 12 } });
 * const hash = await hasher.hash('correct horse battery staple');
 * await hasher.verify('correct horse battery staple', hash); // true
 */
@injectable()
export class PasswordHasher {
  readonly cost: number;
  #dummyHash: Promise<string> | undefined;

  constructor(@inject(CONFIG) config: PasswordHasherConfig = { auth: { bcryptCost: DEFAULT_BCRYPT_COST } }) {
    const cost = config.auth.bcryptCost;
    // bcrypt accepts 4..31; above 15 a single login takes seconds, which config already forbids.
    if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
      throw new ValidationError([{ path: 'auth.bcryptCost', message: 'must be an integer from 4 to 31' }]);
    }
    this.cost = cost;
  }

  /**
   * Hashes a password with the configured cost.
   * @throws ValidationError naming `password` when it is empty, contains NUL or exceeds 72 UTF-8 bytes.
   */
  async hash(password: string): Promise<string> {
    const problem = passwordEncodingProblem(password);
    if (problem) throw new ValidationError([{ path: 'password', message: problem, code: 'encoding' }]);
    return bcrypt.hash(normalizePassword(password), this.cost);
  }

  /**
   * True when `password` matches `hash`. A password that {@link hash} would refuse cannot
   * match any hash made here, so it yields `false` — after a dummy comparison, so that the
   * refusal costs the same time as a real check.
   * @throws CryptoError when `hash` is not a bcrypt hash (corrupt stored data; the hash is not echoed).
   */
  async verify(password: string, hash: string): Promise<boolean> {
    if (!BCRYPT_HASH.test(hash)) throw new CryptoError('Stored password hash is not a bcrypt hash');
    if (passwordEncodingProblem(password) !== undefined) {
      await bcrypt.compare('', await this.#dummy());
      return false;
    }
    return bcrypt.compare(normalizePassword(password), hash);
  }

  /**
   * Spends the same time as {@link verify} against a hash of the configured cost and
   * always returns `false`. Call it when the user does not exist, so response time does
   * not reveal which emails have accounts.
   */
  async verifyDummy(password: string): Promise<false> {
    // Compare even malformed input so that every path costs one bcrypt round of the same cost.
    await bcrypt.compare(passwordEncodingProblem(password) ? '' : normalizePassword(password), await this.#dummy());
    return false;
  }

  /**
   * True when `hash` should be replaced at the next successful login: its cost differs
   * from the configured one, it uses an older bcrypt variant, or it is not bcrypt at all.
   */
  needsRehash(hash: string): boolean {
    const match = BCRYPT_HASH.exec(hash);
    if (!match || !hash.startsWith('$2b$')) return true;
    return Number(match[1]) !== this.cost;
  }

  /** The dummy hash, made once per instance on first use (not at construction, which would block startup). */
  #dummy(): Promise<string> {
    this.#dummyHash ??= bcrypt.hash(randomBytes(18).toString('base64'), this.cost);
    return this.#dummyHash;
  }
}
