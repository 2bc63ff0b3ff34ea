import { z } from 'zod';

/** Input schemas shared by the sign-in and session services (one definition per field). */
export const emailInput = z.email().max(320);
// Bounded so a megabyte "password" cannot make bcrypt's input hashing the cost; the hasher refuses > 72 bytes anyway.
export const passwordInput = z.string().min(1).max(1024);
export const challengeTokenInput = z.string().min(1).max(512);
// Extra fields are allowed so a ValidatedSession can be passed as it is.
export const ownSessionInput = z.object({ userId: z.uuid(), sessionId: z.uuid() });
