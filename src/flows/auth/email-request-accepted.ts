/** The same answer whether or not the email has an account (sign-up, password reset, email sign-in). */
export interface EmailRequestAccepted {
  readonly accepted: true;
}

export const EMAIL_REQUEST_ACCEPTED: EmailRequestAccepted = Object.freeze({ accepted: true });
