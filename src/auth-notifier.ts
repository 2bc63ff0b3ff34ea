/** A one-time link to deliver to the account's email address. */
export interface AuthMessage {
  readonly userId: string;
  readonly email: string;
  /** The plaintext one-time token: put it in the link, never log or store it. */
  readonly token: string;
  readonly expiresAt: Date;
}

/** A notice to the owner of an account that carries no link and no secret. */
export interface AccountNotice {
  readonly userId: string;
  /** The account's stored address (the one to write to, whatever case the request used). */
  readonly email: string;
}

/** The account was locked by failed sign-ins; the owner learns it here, never the person guessing. */
export interface AccountLockedNotice extends AccountNotice {
  readonly lockedUntil: Date;
}

/**
 * Delivers verification and password-reset links, and notices to an account's
 * owner. The application supplies the real one (email provider); the flows
 * only decide *whether* to send. A notifier that throws never changes the
 * answer of the flow that called it (the failure is logged).
 */
export interface AuthNotifier {
  passwordReset(message: AuthMessage): Promise<void>;
  emailVerification(message: AuthMessage): Promise<void>;
  /**
   * Failed sign-ins locked the account (OWASP ASVS v4 2.2.1, NIST SP 800-63B 5.2.2): the
   * sign-in answers a locked account like a wrong password, so only the owner is told.
   */
  accountLocked(notice: AccountLockedNotice): Promise<void>;
  /**
   * Someone signed up with this account's address: sign-up answers `{ accepted: true }`
   * either way (no enumeration), so the owner is told here, e.g. with a sign-in or reset link.
   */
  signUpWithExistingEmail(notice: AccountNotice): Promise<void>;
}
