import { z } from 'zod';
import type { IssueDetail } from './errors.js';

/**
 * The one text and shape policy for every input, whatever store it goes to
 * (docs/reliability.md, "Text and shape policy"). `parseInput` applies it to
 * every repository and flow input before the zod schema runs, so deep nesting
 * never reaches a recursive parser, serializer or driver.
 */
export const INPUT_LIMITS = Object.freeze({
  /** Objects and arrays nested deeper than this are refused (the input itself is level 0). */
  maxDepth: 32,
  /** Objects, arrays and strings in one input; numbers and booleans are not counted (embedding vectors). */
  maxValues: 100_000,
});

/**
 * Finds what breaks the policy in `value`, without recursion (so a 5,000-deep
 * object is an issue, not a RangeError):
 * - a string or object key containing NUL (U+0000) — PostgreSQL `text` cannot hold it, and a
 *   C-string consumer of a MongoDB value would cut it there;
 * - a string or key containing a lone UTF-16 surrogate — not representable in UTF-8, which both
 *   stores use; refused rather than silently replaced with U+FFFD;
 * - nesting deeper than {@link INPUT_LIMITS.maxDepth}, or more than {@link INPUT_LIMITS.maxValues} values.
 *
 * Only plain objects and arrays are descended into (a Date, Buffer or typed array is a value).
 * @returns the issues, paths relative to `value` (dotted), at most one per rule; empty when the input conforms
 */
export function inputPolicyIssues(value: unknown): IssueDetail[] {
  const issues = new Map<string, IssueDetail>();
  const stack: Array<{ value: unknown; path: string[]; depth: number }> = [{ value, path: [], depth: 0 }];
  let values = 0;
  const report = (code: string, path: readonly string[], message: string): void => {
    if (!issues.has(code)) issues.set(code, { path: path.join('.'), message, code });
  };
  const checkText = (text: string, path: readonly string[]): void => {
    if (text.includes('\u0000')) report('nul_character', path, 'must not contain NUL (U+0000)');
    if (!text.isWellFormed()) report('lone_surrogate', path, 'must not contain a lone UTF-16 surrogate');
  };
  while (stack.length > 0) {
    const item = stack.pop()!;
    const v = item.value;
    const array = Array.isArray(v);
    if (typeof v === 'object' && v !== null && !array) {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) continue;
    }
    if (++values > INPUT_LIMITS.maxValues) {
      report('too_large', item.path, `must not hold more than ${INPUT_LIMITS.maxValues} values`);
      break;
    }
    if (typeof v === 'string') {
      checkText(v, item.path);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (item.depth >= INPUT_LIMITS.maxDepth) {
      report('too_deep', item.path, `must not be nested deeper than ${INPUT_LIMITS.maxDepth} levels`);
      continue;
    }
    for (const [key, child] of Object.entries(v)) {
      if (!array) checkText(key, [...item.path, key]);
      if ((child !== null && typeof child === 'object') || typeof child === 'string')
        stack.push({ value: child, path: [...item.path, key], depth: item.depth + 1 });
    }
  }
  return [...issues.values()];
}

/**
 * The schema of every free-form JSON input (analytics properties, persona
 * traits and settings, audit and consent details): an object of JSON values
 * under the text and shape policy, whose UTF-8 serialization is at most
 * `maxBytes`. Keys starting with `$` or containing `.` are refused when
 * `mongoKeys` is set (they are operators and paths to MongoDB); `anyValues`
 * admits values JSON cannot hold (a Date in a MongoDB document).
 */
/**
 * Built once: `z.json()` constructs a recursive union schema on every call (≈ 0.2 ms, measured —
 * docs/benchmarks.md, "Audit writes"), far more than parsing a small object with it.
 */
const JSON_VALUE = z.json();

export function jsonObjectInput(maxBytes: number, options: { mongoKeys?: boolean; anyValues?: boolean } = {}) {
  return z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    // Checked here too, so the schema is safe even where parseInput did not run first.
    const policy = inputPolicyIssues(value);
    for (const issue of policy)
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path === '' ? [] : issue.path.split('.'), params: { policy: issue.code } });
    if (policy.length > 0) return;
    if (options.mongoKeys && Object.keys(value).some((k) => k.startsWith('$') || k.includes('.'))) {
      ctx.addIssue({ code: 'custom', message: 'keys must not start with "$" or contain "."' });
    }
    if (!options.anyValues && !JSON_VALUE.safeParse(value).success)
      ctx.addIssue({ code: 'custom', message: 'must hold only JSON values (strings, finite numbers, booleans, null, arrays, objects)' });
    else if (Buffer.byteLength(JSON.stringify(value), 'utf8') > maxBytes)
      ctx.addIssue({ code: 'custom', message: `must serialize to at most ${maxBytes} bytes` });
  });
}
