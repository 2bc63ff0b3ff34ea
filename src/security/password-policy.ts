import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { CryptoError, ValidationError, type IssueDetail } from '../errors.js';
import { commonPasswords } from './common-passwords.js';
import { BCRYPT_MAX_PASSWORD_BYTES, PasswordHasher, passwordEncodingProblem } from './password-hasher.js';

/** Every rule a password can break; `ValidationError.issues[].code` carries these. */
export const PASSWORD_RULES = ['encoding', 'tooShort', 'tooLong', 'characterClasses', 'containsEmail', 'common', 'reused'] as const;
export type PasswordRule = (typeof PASSWORD_RULES)[number];

/**
 * Per-organization policy: the fields mirror `organization_security_settings`
 * (`password_min_length`, `password_require_*`), so a settings row maps one to one.
 * Defaults equal the column defaults. The history depth (`password_history_count`) is
 * the caller's query limit for `previousHashes`.
 */
export const passwordPolicyOptionsSchema = z
  .object({
    /** bcrypt reads at most 72 bytes, so a longer minimum could never be met. */
    minLength: z.number().int().min(8).max(BCRYPT_MAX_PASSWORD_BYTES).default(12),
    /** Characters (code points); bcrypt's 72-byte limit applies on top of it. */
    maxLength: z.number().int().min(16).max(BCRYPT_MAX_PASSWORD_BYTES).default(64),
    requireLowercase: z.boolean().default(true),
    requireUppercase: z.boolean().default(true),
    requireDigit: z.boolean().default(true),
    requireSymbol: z.boolean().default(false),
    rejectCommon: z.boolean().default(true),
  })
  .refine((o) => o.minLength <= o.maxLength, { message: 'minLength must not exceed maxLength', path: ['minLength'] });
export type PasswordPolicyOptions = z.output<typeof passwordPolicyOptionsSchema>;
export type PasswordPolicyInput = z.input<typeof passwordPolicyOptionsSchema>;

export interface PasswordCheckContext {
  /** The account's email: the password may not equal or contain its local part. */
  readonly email?: string | undefined;
  /** bcrypt hashes of the user's previous passwords (the history depth is the caller's query limit). */
  readonly previousHashes?: readonly string[] | undefined;
}

export interface PasswordViolation {
  readonly rule: PasswordRule;
  /** Safe to show the user; never contains the password. */
  readonly message: string;
}

export interface PasswordCheckResult {
  readonly ok: boolean;
  /** Every rule broken, in {@link PASSWORD_RULES} order. */
  readonly violations: readonly PasswordViolation[];
}

/**
 * True when the password, ignoring case, is on the shipped list of common breached passwords,
 * or is such a password followed only by digits and symbols (`Summer2024!`, `dragon99`).
 */
export function isCommonPassword(password: string): boolean {
  const list = commonPasswords();
  const normalized = password.normalize('NFKC').toLowerCase();
  if (list.has(normalized)) return true;
  const stem = normalized.replace(/[^\p{L}]+$/u, '');
  return stem.length >= 4 && stem !== normalized && list.has(stem);
}

/**
 * Checks a candidate password against an organization's policy, reporting every broken rule.
 *
 * @example
 * const policy = new PasswordPolicy(new PasswordHasher());
 * const result = await policy.check(password, { email, previousHashes }, org.passwordPolicy);
 * if (!result.ok) show(result.violations);
 */
@injectable()
export class PasswordPolicy {
  readonly #hasher: PasswordHasher;

  constructor(@inject(PasswordHasher) hasher: PasswordHasher) {
    this.#hasher = hasher;
  }

  /**
   * Evaluates every rule. The history rule costs one bcrypt comparison per previous hash
   * (run concurrently on libuv's pool) and is skipped when the password cannot be hashed anyway.
   * @throws ValidationError naming the option when `options` is invalid.
   */
  async check(password: string, context: PasswordCheckContext = {}, options: PasswordPolicyInput = {}): Promise<PasswordCheckResult> {
    const o = parseOptions(options);
    const violations: PasswordViolation[] = [];
    const length = [...password].length;

    const encoding = passwordEncodingProblem(password);
    if (encoding && length > 0) violations.push({ rule: 'encoding', message: `Password ${encoding}` });
    if (length < o.minLength) violations.push({ rule: 'tooShort', message: `Password must be at least ${o.minLength} characters` });
    if (length > o.maxLength) violations.push({ rule: 'tooLong', message: `Password must be at most ${o.maxLength} characters` });

    const missing = CHARACTER_CLASSES.filter((c) => o[c.option] && !c.pattern.test(password)).map((c) => c.name);
    if (missing.length > 0) {
      violations.push({ rule: 'characterClasses', message: `Password must contain ${missing.join(', ')}` });
    }

    if (context.email !== undefined && containsEmailLocalPart(password, context.email)) {
      violations.push({ rule: 'containsEmail', message: 'Password must not contain your email address' });
    }
    if (o.rejectCommon && length > 0 && isCommonPassword(password)) {
      violations.push({ rule: 'common', message: 'Password is too common: it appears in lists of breached passwords' });
    }
    if (!encoding && context.previousHashes && context.previousHashes.length > 0) {
      if (await this.#reused(password, context.previousHashes)) {
        violations.push({ rule: 'reused', message: 'Password was used recently; choose a new one' });
      }
    }
    return { ok: violations.length === 0, violations };
  }

  /**
   * {@link check}, throwing when any rule is broken.
   * @throws ValidationError whose issues all have path `password` and `code` = the broken {@link PasswordRule}.
   * @throws ValidationError naming the option when `options` is invalid.
   */
  async assert(password: string, context: PasswordCheckContext = {}, options: PasswordPolicyInput = {}): Promise<void> {
    const result = await this.check(password, context, options);
    if (result.ok) return;
    const issues: IssueDetail[] = result.violations.map((v) => ({ path: 'password', message: v.message, code: v.rule }));
    throw new ValidationError(issues);
  }

  async #reused(password: string, previousHashes: readonly string[]): Promise<boolean> {
    const matches = await Promise.all(
      previousHashes.map((hash) =>
        this.#hasher.verify(password, hash).catch((error: unknown) => {
          // A corrupt history row must not stop a user from changing their password.
          if (error instanceof CryptoError) return false;
          throw error;
        }),
      ),
    );
    return matches.includes(true);
  }
}

function parseOptions(options: PasswordPolicyInput): PasswordPolicyOptions {
  const parsed = passwordPolicyOptionsSchema.safeParse(options);
  if (parsed.success) return parsed.data;
  throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code })));
}

const CHARACTER_CLASSES = [
  { option: 'requireLowercase', name: 'a lower-case letter', pattern: /\p{Ll}/u },
  { option: 'requireUppercase', name: 'an upper-case letter', pattern: /\p{Lu}/u },
  { option: 'requireDigit', name: 'a digit', pattern: /\p{Nd}/u },
  // Anything that is not a cased letter or digit: punctuation, spaces, and scripts without case.
  { option: 'requireSymbol', name: 'a symbol', pattern: /[^\p{Ll}\p{Lu}\p{Nd}]/u },
] as const satisfies readonly { option: keyof PasswordPolicyOptions; name: string; pattern: RegExp }[];

function containsEmailLocalPart(password: string, email: string): boolean {
  const local = email.normalize('NFKC').toLowerCase().split('@')[0] ?? '';
  const lowered = password.normalize('NFKC').toLowerCase();
  // "ada+billing@x" → also "ada"; parts shorter than 3 characters would forbid too much by accident.
  return [local, local.split('+')[0] ?? ''].filter((part) => part.length >= 3).some((part) => lowered.includes(part));
}
