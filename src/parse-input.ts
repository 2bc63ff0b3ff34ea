import { z } from 'zod';
import { ValidationError } from './errors.js';
import { inputPolicyIssues } from './input-policy.js';

/**
 * An id input (`z.uuid()`), built once: the hot lookups (sign-in, a session cache miss) parse one per call, and
 * building the schema per call cost ~15× parsing with it (docs/benchmarks.md, "Issue 22, fourth round").
 */
export const uuidInput = z.uuid();

const joinPath = (...parts: ReadonlyArray<string | undefined>): string => parts.filter((p) => p !== undefined && p !== '').join('.');

/**
 * Parses a repository or flow input with `schema`, after the text and shape
 * policy every input shares (`inputPolicyIssues`: no NUL, no lone surrogate,
 * bounded depth and size), so every store sees the same rules.
 *
 * @throws ValidationError naming every offending field (dotted path, prefixed with `prefix` when given).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix?: string): z.output<S> {
  const policy = inputPolicyIssues(input);
  if (policy.length > 0) throw new ValidationError(policy.map((i) => ({ ...i, path: joinPath(prefix, i.path) })));
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((i) => ({
      path: joinPath(prefix, ...i.path.map(String)),
      message: i.message,
      code: i.code,
    })),
  );
}
