import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { pathToFileURL } from 'node:url';
import * as fc from 'fast-check';
import { beforeAll, describe, expect } from 'vitest';
import { z } from 'zod';
import { compileFn, INVALID } from 'zod/v4/core';
import { PlatformError } from '../../../src/errors.js';
import { definedStatements, parseStatementRow, type PreparedStatement } from '../../../src/postgres/prepared-statement.js';
import { test } from '../../support/fixtures.js';

// Every hot-path row goes through `statement.compiled` (z.compile of the statement's schema). The reference is
// the schema as written: for every statement defined under src/, the compiled parse must give the schema's
// verdict, the schema's output (deep-equal, keys in the same order at every level) and, on a rejection, the
// schema's issues — over 20 000 generated rows per statement and every odd value in every column. The pattern
// is the session codec's (test/unit/redis/cached-session-codec.test.ts).

const SRC = join(import.meta.dirname, '../../../src');

/** The source files that define hot-path statements, found by their text so a new one cannot be left out. */
function statementModules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return statementModules(path);
    return entry.name.endsWith('.ts') && readFileSync(path, 'utf8').includes('= preparedStatement(') ? [path] : [];
  });
}

type AnyStatement = PreparedStatement<z.ZodType>;

const statements: AnyStatement[] = [];
beforeAll(async () => {
  const modules = statementModules(SRC);
  for (const path of modules) await import(pathToFileURL(path).href);
  statements.push(...definedStatements().filter((s) => !s.name.startsWith('test_')));
  // The modules are real: finding none would make every test below pass vacuously.
  expect(modules.map((m) => relative(SRC, m))).toContain('postgres/repositories/user-repository.ts');
});

/** Keys of every plain object in `value`, in order, with their paths: toStrictEqual ignores key order. */
function keyOrder(value: unknown, path = ''): string[] {
  if (typeof value !== 'object' || value === null || value instanceof Date || Buffer.isBuffer(value)) return [];
  return Object.entries(value).flatMap(([key, child]) => [`${path}${key}`, ...keyOrder(child, `${path}${key}.`)]);
}

/**
 * Same verdict, same output in the same key order, same issues: the compiled parse against the schema as written.
 * Compared with node's isDeepStrictEqual (Object.is on leaves, prototypes, Date values) and reported through
 * expect only on a difference, so 20 000 rows per statement stay fast.
 */
function expectSameAnswer(statement: AnyStatement, fast: ReturnType<typeof compileFn>, row: unknown): boolean {
  const reference = statement.schema.safeParse(row);
  // Defined for every statement preparedStatement() made (asserted in the first test).
  const compiled = statement.compiled!.safeParse(row);
  if (compiled.success !== reference.success)
    expect({ statement: statement.name, row, accepted: compiled.success }).toEqual({ statement: statement.name, row, accepted: reference.success });
  if (reference.success && !same(compiled.data, reference.data))
    expect({ statement: statement.name, row, output: compiled.data }).toStrictEqual({ statement: statement.name, row, output: reference.data });
  if (!reference.success && !isDeepStrictEqual(compiled.error?.issues, reference.error.issues)) {
    expect({ statement: statement.name, row, issues: compiled.error?.issues }).toStrictEqual({
      statement: statement.name,
      row,
      issues: reference.error.issues,
    });
  }
  // The generated code itself, not only the parse that falls back to the schema on a rejection: it must accept
  // exactly what the schema accepts (INVALID is definite for these schemas) and build the same output.
  const generated = fast(row);
  if (reference.success ? generated === INVALID || !same(generated, reference.data) : generated !== INVALID) {
    expect({ statement: statement.name, row, generated }).toStrictEqual({
      statement: statement.name,
      row,
      generated: reference.success ? reference.data : INVALID,
    });
  }
  return reference.success;
}

/** Deep-equal with Object.is on leaves, and the same keys in the same order at every level. */
function same(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b) && isDeepStrictEqual(keyOrder(a), keyOrder(b));
}

/** The object a statement's schema validates (the `in` side of `.transform`), or undefined for a schema without columns. */
function columnsOf(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const def = schema.def as { type: string; in?: z.ZodType; shape?: Record<string, z.ZodType> };
  if (def.type === 'pipe' && def.in) return columnsOf(def.in);
  return def.type === 'object' ? def.shape : undefined;
}

const UUID = '0190f3b2-7c1e-4a3b-9d2f-5e6a7b8c9d0e';
// Values a driver, a changed SQL text or a wrong type parser could put in any column.
const ODD_VALUES: unknown[] = [
  null,
  undefined,
  true,
  false,
  0,
  -0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  2 ** 53,
  1n,
  '',
  'x',
  '1',
  'active',
  UUID,
  UUID.toUpperCase(),
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '0190f3b2-7c1e-4a3b-1d2f-5e6a7b8c9d0e', // variant bits 0: not RFC 9562
  '0190f3b2-7c1e-0a3b-9d2f-5e6a7b8c9d0e', // version 0
  `${UUID} `,
  new Date(0),
  new Date(Number.NaN),
  '2026-12-07 04:49:21.123456+00',
  [],
  [''],
  [1],
  {},
  Buffer.from('x'),
];

/** A value of the column's own kind (what PostgreSQL would return), derived from its zod definition. */
function plausible(schema: z.ZodType): fc.Arbitrary<unknown> {
  const def = schema.def as {
    type: string;
    format?: string;
    entries?: Record<string, string>;
    innerType?: z.ZodType;
    element?: z.ZodType;
    checks?: unknown[];
    in?: z.ZodType;
    shape?: Record<string, z.ZodType>;
  };
  switch (def.type) {
    case 'string':
      return def.format === 'uuid'
        ? fc.oneof(
            { weight: 6, arbitrary: fc.uuid() },
            { weight: 1, arbitrary: fc.uuid().map((u) => u.toUpperCase()) },
            { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-fA-F-]{36}$/) },
          )
        : fc.string({ unit: 'binary' });
    case 'enum':
      return fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...Object.values(def.entries ?? {})) }, { weight: 1, arbitrary: fc.string() });
    case 'date':
      return fc.oneof({ weight: 19, arbitrary: fc.date() }, { weight: 1, arbitrary: fc.constant(new Date(Number.NaN)) });
    case 'number':
      return fc.oneof({ weight: 4, arbitrary: fc.integer() }, { weight: 1, arbitrary: fc.maxSafeInteger() }, { weight: 1, arbitrary: fc.double() });
    case 'boolean':
      return fc.boolean();
    case 'nullable':
      return fc.option(plausible(def.innerType!), { nil: null, freq: 3 });
    case 'array':
      return fc.array(fc.oneof({ weight: 19, arbitrary: plausible(def.element!) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_VALUES) }), {
        maxLength: 4,
      });
    case 'custom':
      // z.instanceof(Buffer) (bytea columns): bytes, or what a text column would hold instead.
      return fc.oneof(
        { weight: 8, arbitrary: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b)) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }) },
        { weight: 1, arbitrary: fc.string() },
      );
    case 'pipe':
      // An object or value mapped by `.transform` (e.g. the revoked sessions a sign-in returns as JSON): its input.
      return plausible(def.in!);
    case 'object':
      return fc.record(Object.fromEntries(Object.entries(def.shape ?? {}).map(([key, column]) => [key, plausible(column)])));
    default:
      // A column kind without a generator: add one here rather than let its statement go untested.
      throw new Error(`no row generator for a zod "${def.type}" column`);
  }
}

const ABSENT = Symbol('absent');

/**
 * Rows as `pg` hands them over: every column of its own kind (mostly valid), then up to three columns replaced
 * by an odd value, any value or nothing; sometimes an extra column; sometimes the keys in reverse order.
 */
function rows(columns: Record<string, z.ZodType>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(columns);
  const columnValues = fc.record(Object.fromEntries(Object.entries(columns).map(([key, schema]) => [key, plausible(schema)])));
  const corruption = fc.record({
    key: fc.constantFrom(...keys),
    value: fc.oneof(fc.constantFrom(...ODD_VALUES), fc.constant(ABSENT), fc.jsonValue({ maxDepth: 2 })),
  });
  const someCorruptions = fc.oneof(fc.constant([]), fc.array(corruption, { minLength: 1, maxLength: 3 }));
  return fc
    .record({ cells: columnValues, corruptions: someCorruptions, extra: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: ABSENT }), reversed: fc.boolean() })
    .map(({ cells, corruptions, extra, reversed }) => {
      const row: Record<string, unknown> = { ...cells };
      for (const { key, value } of corruptions) row[key] = value;
      const entries = Object.entries(row).filter(([, v]) => v !== ABSENT);
      if (extra !== ABSENT) entries.push(['extra_column', extra]);
      return Object.fromEntries(reversed ? entries.reverse() : entries);
    });
}

/** One row every column of which is plausible and valid: the schema must accept it (so the tests below are not all rejections). */
function validRow(columns: Record<string, z.ZodType>): Record<string, unknown> {
  const value = (schema: z.ZodType): unknown => {
    const def = schema.def as { type: string; format?: string; entries?: Record<string, string>; element?: z.ZodType };
    switch (def.type) {
      case 'string':
        return def.format === 'uuid' ? UUID : 'text';
      case 'enum':
        return Object.values(def.entries ?? {})[0];
      case 'date':
        return new Date('2026-12-07T04:49:21.123Z');
      case 'number':
        return 42;
      case 'boolean':
        return true;
      case 'nullable':
        return null;
      case 'array':
        return [value(def.element!)];
      case 'custom':
        return Buffer.from('secret');
      default:
        throw new Error(`no row generator for a zod "${def.type}" column`);
    }
  };
  return Object.fromEntries(Object.entries(columns).map(([key, schema]) => [key, value(schema)]));
}

describe('hot-path row validation: every statement compiled, and answering exactly as its schema', () => {
  test('finds the statements of the hot path and compiles each one', () => {
    expect(statements.map((s) => s.name)).toEqual(
      expect.arrayContaining(['pd_user_credentials_by_email', 'pd_users_for_organization_v2', 'pd_user_by_id', 'pd_session_by_id']),
    );
    for (const statement of statements) {
      // z.compile hands a schema it cannot compile back unchanged: that row would silently take the slow path.
      expect(statement.compiled, statement.name).toBeDefined();
      expect(statement.compiled, statement.name).not.toBe(statement.schema);
      expect(() => z.compile(statement.schema, { strict: true }), statement.name).not.toThrow();
    }
  });

  test('agrees on a valid row, on one missing column and on every odd value in every column', () => {
    for (const statement of statements) {
      const columns = columnsOf(statement.schema);
      const fast = compileFn(statement.schema);
      if (columns === undefined) {
        for (const odd of ODD_VALUES) expectSameAnswer(statement, fast, odd);
        continue;
      }
      const row = validRow(columns);
      expect(statement.schema.safeParse(row).success, statement.name).toBe(true);
      expectSameAnswer(statement, fast, row);
      expectSameAnswer(statement, fast, { ...row, extra_column: 'dropped' });
      for (const odd of ODD_VALUES) expectSameAnswer(statement, fast, odd);
      for (const key of Object.keys(columns)) {
        const { [key]: _dropped, ...rest } = row;
        expectSameAnswer(statement, fast, rest);
        for (const odd of ODD_VALUES) expectSameAnswer(statement, fast, { ...row, [key]: odd });
      }
    }
  });

  test('agrees on 20 000 generated rows per row schema (fast-check)', () => {
    // Statements sharing one schema (by email / by username, by id / by jti) share its rows too.
    const distinct = [...new Map(statements.map((s) => [s.schema, s])).values()];
    for (const statement of distinct) {
      const columns = columnsOf(statement.schema);
      if (columns === undefined) continue;
      const fast = compileFn(statement.schema);
      let accepted = 0;
      fc.assert(
        fc.property(rows(columns), (row) => {
          if (expectSameAnswer(statement, fast, row)) accepted += 1;
        }),
        { numRuns: 20_000, seed: 22 },
      );
      // Both verdicts were exercised: a generator that only produced rejections would prove nothing about outputs.
      expect(accepted, statement.name).toBeGreaterThan(2_000);
      expect(accepted, statement.name).toBeLessThan(20_000);
    }
  });

  test('a rejected row is still RESULT_INVALID naming each offending column, with the ZodError as its cause', () => {
    const statement = statements.find((s) => s.name === 'pd_user_credentials_by_email')!;
    const row = { ...validRow(columnsOf(statement.schema)!), id: 'not-a-uuid', status: 'frozen', created_at: '2026-12-07' };
    const reference = statement.schema.safeParse(row);
    expect(reference.success).toBe(false);
    const error = (() => {
      try {
        parseStatementRow(statement, row);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).code).toBe('RESULT_INVALID');
    expect((error as PlatformError).message).toBe(
      `Query result does not match its schema: ${reference.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
    expect((error as PlatformError).message).toMatch(/^Query result does not match its schema: id: .*; status: .*; created_at: /);
    expect(((error as PlatformError).cause as z.ZodError).issues).toStrictEqual(reference.error!.issues);
  });
});
