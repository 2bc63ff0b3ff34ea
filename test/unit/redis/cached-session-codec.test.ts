import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { cachedSessionCodec, type CachedSession } from '../../../src/redis/repositories/cached-session-codec.js';

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
