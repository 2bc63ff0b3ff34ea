import type { AuthMessage } from './auth-notifier.js';

/** A one-time sign-in code to deliver by email (6 digits). */
export interface SignInCodeMessage {
  readonly userId: string;
  readonly email: string;
  /** The plaintext code: put it in the email, never log or store it. */
  readonly code: string;
  readonly expiresAt: Date;
}

/** One link of an email change, to the mailbox it names. */
export interface EmailChangeMessage extends AuthMessage {
  /** `confirm_new`: sent to the new address; `confirm_old`: to the current one; `revert`: to the old one after the change. */
  readonly kind: 'confirm_new' | 'confirm_old' | 'revert';
  readonly newEmail: string;
}

/**
 * Delivers the passwordless sign-in and email-change messages. The
 * application supplies the real one (register it under `IDENTITY_NOTIFIER`);
 * the flows only decide *whether* to send, and only ever to addresses that
 * belong to an account (or are being confirmed for one). A notifier that
 * throws never changes the answer of the flow that called it.
 */
export interface IdentityNotifier {
  /** A magic link: `token` goes into the URL the application builds. */
  magicLink(message: AuthMessage): Promise<void>;
  signInCode(message: SignInCodeMessage): Promise<void>;
  emailChange(message: EmailChangeMessage): Promise<void>;
}
