import type { EmailChangeMessage, IdentityNotifier, SignInCodeMessage } from '../../src/identity-notifier.js';
import type { AccountLockedNotice, AccountNotice, AuthMessage, AuthNotifier } from '../../src/auth-notifier.js';

/** A password every default policy accepts (12+ characters, not in the breached list, no personal data). */
export const PASSWORD = 'Quartz-Lantern-47-river';

/** Captures the links the verification flows send (they carry secrets), with which kind of message each was, and the notices to account owners. */
export class CapturingNotifier implements AuthNotifier {
  readonly sent: Array<AuthMessage & { kind: 'password_reset' | 'email_verification' }> = [];
  readonly notices: Array<(AccountNotice & { kind: 'sign_up_with_existing_email' }) | (AccountLockedNotice & { kind: 'account_locked' })> = [];
  async passwordReset(message: AuthMessage): Promise<void> {
    this.sent.push({ ...message, kind: 'password_reset' });
  }
  async emailVerification(message: AuthMessage): Promise<void> {
    this.sent.push({ ...message, kind: 'email_verification' });
  }
  async accountLocked(notice: AccountLockedNotice): Promise<void> {
    this.notices.push({ ...notice, kind: 'account_locked' });
  }
  async signUpWithExistingEmail(notice: AccountNotice): Promise<void> {
    this.notices.push({ ...notice, kind: 'sign_up_with_existing_email' });
  }
}

/** Captures what the passwordless and email-change flows send (magic links, codes, email-change links). */
export class CapturingIdentityNotifier implements IdentityNotifier {
  readonly links: AuthMessage[] = [];
  readonly codes: SignInCodeMessage[] = [];
  readonly emailChanges: EmailChangeMessage[] = [];
  async magicLink(message: AuthMessage): Promise<void> {
    this.links.push(message);
  }
  async signInCode(message: SignInCodeMessage): Promise<void> {
    this.codes.push(message);
  }
  async emailChange(message: EmailChangeMessage): Promise<void> {
    this.emailChanges.push(message);
  }
}
