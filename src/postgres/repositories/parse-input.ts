import type { z } from 'zod';
import { ValidationError } from '../../errors.js';

/**
 * Validates a repository input before any SQL is built, so malformed values
 * never reach the database and the caller learns every offending field at once.
 *
 * @param root prefix for the reported paths when the schema validates one argument of several (e.g. `page`)
 * @throws ValidationError naming each invalid field (e.g. `email`, `page.limit`)
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, root?: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ValidationError(
    parsed.error.issues.map((issue) => ({
      path: [...(root === undefined ? [] : [root]), ...issue.path.map(String)].join('.'),
      message: issue.message,
      code: issue.code,
    })),
  );
}
