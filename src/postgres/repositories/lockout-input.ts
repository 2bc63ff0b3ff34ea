import { z } from 'zod';

/** A user and the lockout policy applied to one failed sign-in (`LockoutPolicy`'s threshold and lockSeconds). */
export const lockoutInput = z.object({
  userId: z.uuid(),
  threshold: z.number().int().min(1).max(100),
  lockSeconds: z
    .number()
    .int()
    .min(1)
    .max(86_400 * 30),
});
