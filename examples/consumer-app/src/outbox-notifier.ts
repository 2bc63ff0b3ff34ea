import type { AccountLockedNotice, AccountNotice, AuthMessage, AuthNotifier } from 'platform-data';

/**
 * Delivers verification and password-reset links. This one keeps them in
 * memory (an outbox a test can read); a deployed service sends them by email
 * here instead, with a link such as https://app.example/verify?token=<token>.
 */
export class OutboxNotifier implements AuthNotifier {
  readonly sent: Array<AuthMessage & { readonly kind: 'email_verification' | 'password_reset' }> = [];

  async emailVerification(message: AuthMessage): Promise<void> {
    this.sent.push({ ...message, kind: 'email_verification' });
  }

  async passwordReset(message: AuthMessage): Promise<void> {
    this.sent.push({ ...message, kind: 'password_reset' });
  }

  /** Tells an account's owner that a sign-up used their address (sign-up itself answers the same either way). */
  async signUpWithExistingEmail(notice: AccountNotice): Promise<void> {
    // e.g. mail notice.email: "someone tried to sign up with your address; sign in or reset your password"
    void notice;
  }

  /** Tells an account's owner that repeated wrong passwords locked it for a while. */
  async accountLocked(notice: AccountLockedNotice): Promise<void> {
    void notice;
  }

  /** The newest token sent to `email` for `kind`. */
  latestToken(email: string, kind: 'email_verification' | 'password_reset'): string | undefined {
    return this.sent.findLast((m) => m.email === email && m.kind === kind)?.token;
  }
}
