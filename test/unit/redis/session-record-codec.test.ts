import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { cachedSessionSchema, type CachedSession } from '../../../src/redis/repositories/session-cache.js';
import { sessionRecordCodec } from '../../../src/redis/repositories/session-record-codec.js';

const record: CachedSession = {
  sessionId: 's-1',
  userId: 'u-1',
  organizationId: 'o-1',
  expiresAt: 1_900_000_000_123,
  revocationEpoch: 1_800_000_000_000,
  roles: ['member'],
  scopes: ['knowledge:read'],
  mfaVerified: true,
};

describe('sessionRecordCodec', () => {
  it('puts expiry and epoch in the header the Lua script matches, and round-trips the record', () => {
    const raw = sessionRecordCodec.encode(record);
    expect(raw.startsWith(`s1|1900000000123|1800000000000|{`)).toBe(true);
    expect(sessionRecordCodec.decode(raw)).toEqual(record);
  });

  it('floors a fractional expiry in the header (never later than the record says)', () => {
    expect(sessionRecordCodec.encode({ ...record, expiresAt: 1_900_000_000_123.9 })).toMatch(/^s1\|1900000000123\|/);
  });

  it('still reads plain JSON records of older releases', () => {
    expect(sessionRecordCodec.decode(JSON.stringify(record))).toEqual(record);
  });

  // The hit path's structural check must accept and refuse exactly what the zod schema does.
  const candidates: unknown[] = [
    record,
    { ...record, organizationId: null },
    { sessionId: 's', userId: 'u', organizationId: null, expiresAt: 1, revocationEpoch: 0 },
    { ...record, extra: 'dropped' },
    { ...record, sessionId: 1 },
    { ...record, userId: null },
    { ...record, organizationId: undefined },
    { ...record, expiresAt: '1' },
    { ...record, revocationEpoch: -1 },
    { ...record, revocationEpoch: 1.5 },
    { ...record, roles: 'member' },
    { ...record, roles: [1] },
    { ...record, scopes: [null] },
    { ...record, mfaVerified: 'yes' },
    { revoked: true, sessionId: 's-1' },
    [],
    null,
    'text',
  ];
  it.each(candidates.map((c, i) => [i, c]))('agrees with cachedSessionSchema on candidate %i', (_i, candidate) => {
    const parsed = cachedSessionSchema.safeParse(candidate);
    const decoded = sessionRecordCodec.decode(JSON.stringify(candidate) ?? '');
    expect(decoded).toEqual(parsed.success ? parsed.data : undefined);
  });

  it('treats garbage as unreadable', () => {
    for (const raw of ['', 'not json', 's1|', 's1|1|', 's1|1|0|not json', '{']) expect(sessionRecordCodec.decode(raw)).toBeUndefined();
  });
});
