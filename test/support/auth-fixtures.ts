import type { AuthMessage, AuthNotifier } from '../../src/flows/auth-notifier.js';

/** A password every default policy accepts (12+ characters, not in the breached list, no personal data). */
export const PASSWORD = 'Quartz-Lantern-47-river';

/** Captures the links the verification flows send (they carry secrets), with which kind of message each was. */
export class CapturingNotifier implements AuthNotifier {
  readonly sent: Array<AuthMessage & { kind: 'password_reset' | 'email_verification' }> = [];
  async passwordReset(message: AuthMessage): Promise<void> {
    this.sent.push({ ...message, kind: 'password_reset' });
  }
  async emailVerification(message: AuthMessage): Promise<void> {
    this.sent.push({ ...message, kind: 'email_verification' });
  }
}
