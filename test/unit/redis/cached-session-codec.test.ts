import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import * as fc from 'fast-check';
import {
  CACHED_SESSION_FIELDS,
  cachedSessionCodec,
  cachedSessionFromJson,
  cachedSessionSchema,
  type CachedSession,
} from '../../../src/redis/repositories/cached-session-codec.js';
import { test } from '../../support/fixtures.js';

const record: CachedSession = {
  sessionId: 's-1',
  userId: 'u-1',
  organizationId: 'o-1',
  expiresAt: 1_900_000_000_123,
  revocationEpoch: 1_800_000_000_000,
  roles: ['member'],
  scopes: ['knowledge:read'],
  mfaVerified: true,
  confirmed: true,
};

describe('cachedSessionCodec', () => {
  it('puts expiry and epoch in the header the Lua script matches, and round-trips the record', () => {
    const raw = cachedSessionCodec.encode(record);
    expect(raw.startsWith(`s1|1900000000123|1800000000000|{`)).toBe(true);
    expect(cachedSessionCodec.decode(raw)).toEqual(record);
  });

  it('floors a fractional expiry in the header (never later than the record says)', () => {
    expect(cachedSessionCodec.encode({ ...record, expiresAt: 1_900_000_000_123.9 })).toMatch(/^s1\|1900000000123\|/);
  });

  it('still reads plain JSON records of older releases', () => {
    expect(cachedSessionCodec.decode(JSON.stringify(record))).toEqual(record);
  });

  it('drops unknown keys, fills the defaults and refuses a revocation marker or a wrong type', () => {
    expect(cachedSessionCodec.decode(JSON.stringify({ ...record, extra: 'dropped' }))).toEqual(record);
    expect(cachedSessionCodec.decode(JSON.stringify({ sessionId: 's', userId: 'u', organizationId: null, expiresAt: 1, revocationEpoch: 0 }))).toEqual({
      sessionId: 's',
      userId: 'u',
      organizationId: null,
      expiresAt: 1,
      revocationEpoch: 0,
      roles: [],
      scopes: [],
      mfaVerified: false,
      // A record of an older release is a confirmed session (sql/0116).
      confirmed: true,
    });
    for (const bad of [
      { revoked: true, sessionId: 's-1' },
      { ...record, revocationEpoch: -1 },
      { ...record, roles: [1] },
      { ...record, mfaVerified: 'yes' },
      [],
      null,
    ]) {
      expect(cachedSessionCodec.decode(JSON.stringify(bad))).toBeUndefined();
    }
  });

  it('treats garbage as unreadable', () => {
    for (const raw of ['', 'not json', 's1|', 's1|1|', 's1|1|0|not json', '{']) expect(cachedSessionCodec.decode(raw)).toBeUndefined();
  });
});

/** What the schema answers for a value: its output, or undefined when it refuses. */
function schemaVerdict(value: unknown): CachedSession | undefined {
  const parsed = cachedSessionSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** Same verdict, same output, keys in the same order (Object.is on every leaf, so -0 and 0 differ). */
function expectSameVerdict(value: unknown): void {
  const ours = cachedSessionFromJson(value);
  const schema = schemaVerdict(value);
  expect(ours).toStrictEqual(schema);
  if (ours && schema) expect(Object.keys(ours)).toEqual(Object.keys(schema));
}

// JSON values a corrupted or foreign record may hold in any field (JSON.parse yields only these kinds).
const ODD_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  -1,
  1.5,
  -1.5,
  2 ** 53 - 1,
  2 ** 53,
  1e308,
  Number.POSITIVE_INFINITY, // JSON.parse('1e999')
  Number.NEGATIVE_INFINITY,
  '',
  's',
  '1',
  [],
  ['member'],
  [1],
  ['a', null],
  [[]],
  {},
  { a: 'b' },
];

describe('cachedSessionFromJson (the hand-written check validation uses) against cachedSessionSchema', () => {
  test('checks exactly the schema fields, in the schema order', () => {
    expect([...CACHED_SESSION_FIELDS]).toEqual(Object.keys(cachedSessionSchema.shape));
  });

  test('agrees on valid records, with and without the defaulted fields', () => {
    expectSameVerdict(record);
    expectSameVerdict({ ...record, organizationId: null, revocationEpoch: 0, roles: [], scopes: [] });
    expectSameVerdict({ ...record, revocationEpoch: -0, expiresAt: -5.5 });
    expectSameVerdict({ ...record, extra: 'dropped', revoked: true });
    for (const field of ['roles', 'scopes', 'mfaVerified', 'confirmed'] as const) {
      const { [field]: _dropped, ...rest } = record;
      expectSameVerdict(rest);
    }
  });

  test('agrees when any one field is missing or holds any odd JSON value', () => {
    for (const field of CACHED_SESSION_FIELDS) {
      const { [field]: _dropped, ...rest } = record;
      expectSameVerdict(rest);
      for (const odd of ODD_VALUES) expectSameVerdict({ ...record, [field]: odd });
    }
  });

  test('agrees on values that are not records, and on revocation markers', () => {
    for (const odd of ODD_VALUES) expectSameVerdict(odd);
    expectSameVerdict({ revoked: true, sessionId: 's-1' });
    expectSameVerdict(Object.assign([], record));
    expectSameVerdict(JSON.parse('{"__proto__":{"sessionId":"x"},"userId":"u"}'));
    expectSameVerdict(JSON.parse(`{"sessionId":"s","userId":"u","organizationId":null,"expiresAt":1e999,"revocationEpoch":0}`));
  });

  test('agrees on random records (fast-check: each field a plausible value, an odd JSON value or absent)', () => {
    const oddOrAbsent = fc.oneof(fc.constantFrom(...ODD_VALUES), fc.jsonValue(), fc.constant(undefined));
    const field = <T>(plausible: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: plausible }, { weight: 1, arbitrary: oddOrAbsent });
    const candidate = fc.record({
      sessionId: field(fc.string()),
      userId: field(fc.string()),
      organizationId: field(fc.option(fc.string(), { nil: null })),
      expiresAt: field(fc.double()),
      revocationEpoch: field(fc.oneof(fc.integer({ min: -5, max: 2 ** 31 }), fc.maxSafeInteger(), fc.double())),
      roles: field(fc.array(fc.oneof({ weight: 9, arbitrary: fc.string() }, { weight: 1, arbitrary: fc.jsonValue() }))),
      scopes: field(fc.array(fc.string())),
      mfaVerified: field(fc.boolean()),
      confirmed: field(fc.boolean()),
      extra: fc.option(fc.jsonValue(), { nil: undefined }),
    });
    fc.assert(
      fc.property(candidate, (value) => {
        // Through JSON, as validation sees it: undefined members vanish, -0 stays -0 only where JSON keeps it.
        const text = JSON.stringify(value);
        expectSameVerdict(JSON.parse(text));
        expectSameVerdict(cachedSessionCodec.decode(`s1|1|0|${text}`));
      }),
      { numRuns: 20_000, seed: 22 },
    );
  });

  test('decode from a header position equals decode of the whole value', () => {
    const raw = cachedSessionCodec.encode(record);
    const header = cachedSessionCodec.header(raw);
    expect(header).toEqual({ expiresAt: record.expiresAt, revocationEpoch: record.revocationEpoch, bodyStart: raw.indexOf('{') });
    expect(cachedSessionCodec.decode(raw, header?.bodyStart)).toEqual(cachedSessionCodec.decode(raw));
  });

  test('reads the header exactly as /^s1\\|(\\d+)\\|(\\d+)\\|/ did', () => {
    const regex = /^s1\|(\d+)\|(\d+)\|/;
    const samples = [
      's1|1|2|{}',
      's1||2|{}',
      's1|1||{}',
      's1|1|2',
      's1|12a|3|{}',
      's1|٣|1|{}',
      'S1|1|2|',
      's2|1|2|',
      ' s1|1|2|',
      's1|007|0009999999999999999999|x',
    ];
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...samples), fc.stringMatching(/^s1\|[0-9|a]{0,12}/), fc.string()), (raw) => {
        const match = regex.exec(raw);
        const header = cachedSessionCodec.header(raw);
        expect(header === undefined ? undefined : { expiresAt: header.expiresAt, revocationEpoch: header.revocationEpoch }).toEqual(
          match ? { expiresAt: Number(match[1]), revocationEpoch: Number(match[2]) } : undefined,
        );
        if (match && header) expect(header.bodyStart).toBe(match[0].length);
      }),
      { numRuns: 5_000, seed: 22 },
    );
  });
});
