import { generate, generateSecret, generateURI, verify } from 'otplib';
import { injectable } from 'tsyringe';
import { CryptoError, ValidationError } from '../errors.js';

/** Authenticator-app defaults (RFC 6238 with SHA-1, 6 digits, 30 s): every common app supports exactly these. */
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted either side of the current one, to absorb clock drift and typing time. */
export const TOTP_WINDOW_STEPS = 1;
/** 160-bit secrets, as RFC 4226 recommends (otplib refuses fewer than 128 bits). */
const TOTP_SECRET_BYTES = 20;

export type TotpVerification =
  | {
      readonly valid: true;
      /** RFC 6238 time step the code belongs to: store it and pass it back as `afterTimeStep`. */
      readonly timeStep: number;
      /** Steps between the code's step and the server's (negative: the client clock is behind). */
      readonly delta: number;
    }
  | {
      readonly valid: false;
      /** `malformed`: not 6 digits; `mismatch`: wrong or expired code; `replayed`: its step was already used. */
      readonly reason: 'malformed' | 'mismatch' | 'replayed';
    };

export interface TotpVerifyOptions {
  /** The last time step accepted for this user; codes of this step or earlier are refused (replay protection). */
  readonly afterTimeStep?: number | undefined;
  /** Clock override, for tests. */
  readonly now?: Date | undefined;
}

/**
 * TOTP (RFC 6238) for authenticator apps, on otplib 13: a maintained, audited-crypto
 * implementation whose verify result reports the matched time step, which is what
 * replay protection needs. This class fixes the parameters apps agree on and turns
 * otplib's exceptions into results or the package's errors.
 *
 * The secret is Base32 (what otpauth URIs carry); store it encrypted with {@link SecretBox}.
 *
 * @example
 * const totp = new Totp();
 * const secret = totp.generateSecret();
 * const uri = totp.keyUri({ secret, issuer: 'Acme', accountName: 'ada@example.com' });
 * const result = await totp.verify(secret, '123456', { afterTimeStep: lastStep });
 * if (result.valid) await mfa.recordStep(userId, result.timeStep); // compare-and-set, see docs/security.md
 */
@injectable()
export class Totp {
  /** A new random Base32 secret (160 bits). */
  generateSecret(): string {
    return generateSecret({ length: TOTP_SECRET_BYTES });
  }

  /**
   * The `otpauth://totp/...` URI to show as a QR code.
   * @throws ValidationError naming `issuer` or `accountName` when empty or containing ":".
   */
  keyUri(params: { readonly secret: string; readonly issuer: string; readonly accountName: string }): string {
    const issues = (['issuer', 'accountName'] as const)
      // Key URI format uses ":" to separate issuer from account in the label.
      .filter((field) => params[field].length === 0 || params[field].includes(':'))
      .map((field) => ({ path: field, message: 'must be non-empty and must not contain ":"' }));
    if (issues.length > 0) throw new ValidationError(issues);
    return generateURI({
      issuer: params.issuer,
      label: params.accountName,
      secret: params.secret,
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
    });
  }

  /**
   * The current code for `secret` (for tests, demos and enrolment checks).
   * @throws CryptoError when the secret is not valid Base32 of at least 128 bits.
   */
  async generate(secret: string, now: Date = new Date()): Promise<string> {
    try {
      return await generate({ secret, epoch: epochSeconds(now), digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
    } catch (cause) {
      throw new CryptoError('TOTP secret is malformed', { cause });
    }
  }

  /**
   * Checks a code against the current step ±1. Spaces in the code are ignored.
   * Replay protection needs the caller to persist `timeStep` of the last accepted code
   * atomically (compare-and-set), so two concurrent logins cannot both use one code.
   * @throws CryptoError when the stored secret is malformed (never for a bad code).
   */
  async verify(secret: string, code: string, options: TotpVerifyOptions = {}): Promise<TotpVerification> {
    const token = code.replace(/\s+/g, '');
    if (!/^\d+$/.test(token) || token.length !== TOTP_DIGITS) return { valid: false, reason: 'malformed' };
    let result: Awaited<ReturnType<typeof verify>>;
    try {
      result = await verify({
        secret,
        token,
        epoch: epochSeconds(options.now ?? new Date()),
        // Tolerance in seconds; one period either side covers exactly the adjacent steps.
        epochTolerance: TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS,
        digits: TOTP_DIGITS,
        period: TOTP_PERIOD_SECONDS,
      });
    } catch (cause) {
      throw new CryptoError('TOTP secret is malformed', { cause });
    }
    if (!result.valid || !('timeStep' in result)) return { valid: false, reason: 'mismatch' };
    // Checked here rather than with otplib's afterTimeStep so the caller can tell a replay from a typo.
    if (options.afterTimeStep !== undefined && result.timeStep <= options.afterTimeStep) {
      return { valid: false, reason: 'replayed' };
    }
    return { valid: true, timeStep: result.timeStep, delta: result.delta };
  }
}

function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
