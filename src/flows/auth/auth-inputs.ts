import { z } from 'zod';
import { usernameInput } from '../../postgres/repositories/profile-inputs.js';

/** Input schemas shared by the sign-in and session services (one definition per field). */
export const emailInput = z.email().max(320);
/**
 * The account a password sign-in names: an email (it has an `@`) or a username (which never has one),
 * lowercased either way, so the throttle counts `Alice` and `alice` as one account.
 */
export const signInIdentifierInput = z.union(
  [
    emailInput.transform((email) => ({ kind: 'email' as const, value: email.toLowerCase() })),
    usernameInput.transform((username) => ({ kind: 'username' as const, value: username })),
  ],
  { error: 'must be an email address or a username' },
);
// Bounded so a megabyte "password" cannot make bcrypt's input hashing the cost; the hasher refuses > 72 bytes anyway.
export const passwordInput = z.string().min(1).max(1024);
export const challengeTokenInput = z.string().min(1).max(512);
// Extra fields are allowed so a ValidatedSession can be passed as it is.
export const ownSessionInput = z.object({ userId: z.uuid(), sessionId: z.uuid() });
