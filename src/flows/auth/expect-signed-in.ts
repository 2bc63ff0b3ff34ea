import { AccountStateError, PlatformError } from '../../errors.js';
import type { LoginResult, SignedInResult } from './password-sign-in.js';

/**
 * For callers that do not offer a second factor (scripts, demos, tests):
 * the session of a `login` (or `OAuthSignIn.signIn`) result, keeping its extra fields, or a `PlatformError` `MFA_REQUIRED` when
 * the sign-in needs MFA (the caller should handle `mfa_required` /
 * `mfa_enrollment_required` instead of using this), or an `AccountStateError` `password_change_required` when the
 * password must be changed first (the caller should offer `PasswordChange.completeRequiredChange` with the ticket).
 *
 * @example
 * const { sessionId, refreshToken } = expectSignedIn(await signIn.login(email, password, client));
 * @throws PlatformError `MFA_REQUIRED`; AccountStateError `password_change_required`
 */
export function expectSignedIn<R extends LoginResult>(result: R): Extract<R, SignedInResult> {
  if (isSignedIn(result)) return result;
  if (result.status === 'password_change_required') throw new AccountStateError('password_change_required');
  throw new PlatformError('MFA_REQUIRED', `The sign-in needs a second factor (${result.status}); this caller cannot complete it`);
}

function isSignedIn<R extends LoginResult>(result: R): result is Extract<R, SignedInResult> {
  return result.status === 'signed_in';
}
