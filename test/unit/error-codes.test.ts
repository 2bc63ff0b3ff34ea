import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import * as migratorApi from '../../src/postgres/migrator/index.js';
import { PLATFORM_ERROR_CODES, PlatformError, type PlatformErrorCode } from '../../src/errors.js';
import { mapRedisError } from '../../src/redis/map-redis-error.js';

// Issue 17: error codes were an open set (22 ad-hoc strings, one computed). They are
// now one closed union; `tsc` (run by CI) refuses a code outside it, as the line below shows.
// @ts-expect-error — 'MADE_UP' is not a PlatformErrorCode
const refused = () => new PlatformError('MADE_UP', 'never');

describe('closed error codes', () => {
  it('lists each code once', () => {
    expect(new Set(PLATFORM_ERROR_CODES).size).toBe(PLATFORM_ERROR_CODES.length);
    expect(typeof refused).toBe('function');
  });

  it('every exported error class carries a code from the closed list', () => {
    const exported = Object.entries({ ...api, ...migratorApi } as Record<string, unknown>)
      .filter(([, v]) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof PlatformError)
      .map(([name]) => name);
    const samples: Record<string, PlatformError> = {
      ConfigError: new api.ConfigError([{ path: 'X', message: 'bad' }]),
      ValidationError: new api.ValidationError([{ path: 'x', message: 'bad' }]),
      NotFoundError: new api.NotFoundError('user'),
      ConflictError: new api.ConflictError('taken'),
      StoreUnavailableError: new api.StoreUnavailableError('redis', 'down'),
      TenantAccessError: new api.TenantAccessError('no'),
      InvalidCredentialsError: new api.InvalidCredentialsError(),
      AccountStateError: new api.AccountStateError('locked'),
      InvalidMfaCodeError: new api.InvalidMfaCodeError('invalid'),
      RateLimitedError: new api.RateLimitedError('slow down', 1000),
      TokenError: new api.TokenError('expired'),
      CryptoError: new api.CryptoError('bad tag'),
      PasskeyError: new api.PasskeyError('counter_regression'),
      DnsLookupError: new api.DnsLookupError('_platform-data-challenge.example.com'),
    };
    // A new exported error class must be added here, so its code is checked too.
    expect(exported.filter((name) => !(name in samples)).sort()).toEqual(['MigrationError', 'RedisReplyError', 'RefreshTokenReusedError']);
    for (const error of Object.values(samples)) {
      expect(PLATFORM_ERROR_CODES as readonly string[]).toContain(error.code);
    }
  });

  it('a Redis error reply keeps one code and names the reply prefix (was REDIS_<PREFIX>, an open set)', () => {
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), { name: 'ReplyError' });
    const mapped = mapRedisError(reply);
    const code: PlatformErrorCode = mapped.code;
    expect(code).toBe('REDIS_REPLY');
    expect(mapped).toBeInstanceOf(api.RedisReplyError);
    expect((mapped as api.RedisReplyError).reply).toBe('WRONGTYPE');
  });
});

// Issue 19: `TokenError` had one code whatever the reason, so a client could not tell "sign in again"
// (expired) from "signed out" (revoked) or "theft suspected" (reused) without reading `reason`.
describe('TokenError: one code per reason', () => {
  it('maps each reason to its own code from the closed list', () => {
    const reasons = Object.keys(api.TOKEN_ERROR_CODES) as api.TokenErrorReason[];
    expect(reasons.sort()).toEqual(['consumed', 'expired', 'invalid', 'reused', 'revoked']);
    const codes = reasons.map((r) => new api.TokenError(r).code);
    expect(new Set(codes).size).toBe(reasons.length);
    for (const code of codes) expect(PLATFORM_ERROR_CODES as readonly string[]).toContain(code);
    expect(new api.TokenError('revoked')).toMatchObject({ code: 'TOKEN_REVOKED', reason: 'revoked' });
    expect(new api.TokenError('expired')).toMatchObject({ code: 'TOKEN_EXPIRED', reason: 'expired' });
    expect(new api.TokenError('reused')).toMatchObject({ code: 'TOKEN_REUSED', reason: 'reused' });
    expect(new api.TokenError('invalid')).toMatchObject({ code: 'TOKEN_INVALID', reason: 'invalid' });
  });
});
