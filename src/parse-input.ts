import type { z } from 'zod';
import { ValidationError } from './errors.js';

/**
 * Parses a repository input with `schema`.
 *
 * @throws ValidationError naming every offending field (dotted path, prefixed with `prefix` when given).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix?: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((i) => ({
      path: [prefix, ...i.path.map(String)].filter((p) => p !== undefined && p !== '').join('.'),
      message: i.message,
      code: i.code,
    })),
  );
}
