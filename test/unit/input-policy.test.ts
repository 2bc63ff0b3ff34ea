import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../src/errors.js';
import { INPUT_LIMITS, inputPolicyIssues, jsonObjectInput } from '../../src/input-policy.js';
import { parseInput } from '../../src/parse-input.js';

const nest = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe('input policy (one text and shape rule for every store)', () => {
  it('refuses NUL and lone surrogates in values and keys; well-formed pairs, RTL and emoji pass (WHATWG/ECMA-262 isWellFormed)', () => {
    expect(inputPolicyIssues({ a: 'x\u0000y' }).map((i) => [i.path, i.code])).toEqual([['a', 'nul_character']]);
    expect(inputPolicyIssues({ list: ['ok', '\uDC00'] }).map((i) => [i.path, i.code])).toEqual([['list.1', 'lone_surrogate']]);
    expect(inputPolicyIssues({ ['k\uD800']: 1 }).map((i) => i.code)).toEqual(['lone_surrogate']);
    expect(inputPolicyIssues({ a: '\uD83D\uDE00 \u202Eevil مرحبا' })).toEqual([]);
  });

  it(`bounds depth at ${INPUT_LIMITS.maxDepth} without recursion: 5,000 and 1,000,000 deep are issues, not RangeError`, () => {
    expect(inputPolicyIssues(nest(INPUT_LIMITS.maxDepth))).toEqual([]);
    expect(inputPolicyIssues(nest(INPUT_LIMITS.maxDepth + 1)).map((i) => i.code)).toEqual(['too_deep']);
    expect(inputPolicyIssues(nest(5_000)).map((i) => i.code)).toEqual(['too_deep']);
    expect(inputPolicyIssues(nest(1_000_000)).map((i) => i.code)).toEqual(['too_deep']);
  });

  it('counts objects and strings, not numbers (an embedding vector passes), and does not descend into Dates or Buffers', () => {
    expect(inputPolicyIssues({ vectors: Array.from({ length: 200 }, () => new Array(1536).fill(0.5)) })).toEqual([]);
    expect(inputPolicyIssues({ words: Array.from({ length: INPUT_LIMITS.maxValues + 1 }, () => 'w') }).map((i) => i.code)).toEqual(['too_large']);
    expect(inputPolicyIssues({ at: new Date(), bytes: Buffer.from('\u0000') })).toEqual([]);
  });

  it('parseInput applies it before any schema, with the prefix in the path; jsonObjectInput applies it on its own too', () => {
    const error = (() => {
      try {
        parseInput(z.object({ name: z.string() }), { name: 'a\u0000' }, 'input');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([{ path: 'input.name', code: 'nul_character', message: 'must not contain NUL (U+0000)' }]);
    const schema = jsonObjectInput(64);
    expect(schema.safeParse({ a: nest(5_000) }).success).toBe(false);
    expect(schema.safeParse({ a: 'x'.repeat(100) }).success).toBe(false);
    expect(schema.safeParse({ a: [1, { b: null }] }).success).toBe(true);
  });
});
