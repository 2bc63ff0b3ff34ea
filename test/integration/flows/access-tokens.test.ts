import 'reflect-metadata';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { sql } from 'slonik';
import { describe, expect, vi } from 'vitest';
import { z } from 'zod';
import { TokenError } from '../../../src/errors.js';
import { AccessTokens } from '../../../src/flows/auth/access-tokens.js';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { DEFAULT_SIGNING_KEY_OPTIONS } from '../../../src/signing-key-options.js';
import { SigningKeyRing, type PublicJwk } from '../../../src/flows/auth/signing-key-ring.js';
import { loadConfig } from '../../../src/config.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { SigningKeyRepository } from '../../../src/postgres/repositories/signing-key-repository.js';
import { testKeyRing } from '../../support/test-env.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { SessionCacheBreaker } from '../../../src/redis/repositories/session-cache-breaker.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { type FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const b64 = (part: string): Buffer => Buffer.from(part, 'base64url');
const header = (token: string): Record<string, unknown> => JSON.parse(b64(token.split('.')[0] ?? '').toString('utf8')) as Record<string, unknown>;

/**
 * Verifies a compact JWS with node:crypto alone (no jose), from the JWKS entry:
 * the signing input is ASCII(BASE64URL(header) '.' BASE64URL(payload)) (RFC 7515 §5.2);
 * EdDSA signs it with Ed25519 as is (RFC 8037 §3.1); ES256 is ECDSA P-256 SHA-256 with
 * the signature as R || S, 64 octets (RFC 7518 §3.4).
 */
function independentlyVerifies(token: string, jwk: PublicJwk): boolean {
  const [h = '', p = '', s = ''] = token.split('.');
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y === undefined ? {} : { y: jwk.y }) }, format: 'jwk' });
  const input = Buffer.from(`${h}.${p}`, 'ascii');
  return jwk.alg === 'EdDSA' ? cryptoVerify(null, input, key, b64(s)) : cryptoVerify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, b64(s));
}

describe.skipIf(!requireStores('postgres', 'redis'))('AccessTokens and the signing key ring', () => {
  let tokens: AccessTokens;
  let ring: SigningKeyRing;
  let second: Platform;

  test.beforeAll(async ({ flow: h }) => {
    tokens = h.platform.resolve(AccessTokens);
    ring = h.platform.resolve(SigningKeyRing);
    // A second "process" on the same database and Redis: its own container, key cache and pools.
    second = createPlatform(h.t.config, { stores: ['postgres', 'redis'] });
    await second.start();
  });
  test.afterAll(async () => {
    await second?.stop();
  });

  const signIn = async (h: FlowHarness) => {
    const u = await h.user();
    return expectSignedIn(await h.signIn.login(u.email, PASSWORD, { ip: '203.0.113.9' }));
  };
  const keyCount = (h: FlowHarness) =>
    h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM signing_keys`);

  test('creates one first key when two processes sign at once (race-safe), and both sign with it', async ({ flow: h }) => {
    const other = second.resolve(AccessTokens);
    const [a, b] = await Promise.all([signIn(h), signIn(h)]);
    const [ta, tb] = await Promise.all([tokens.signAccessToken(a), other.signAccessToken(b)]);
    expect(ta.kid).toBe(tb.kid);
    expect(await keyCount(h)).toBe(1);
    // Each process verifies the other's token.
    expect((await other.verifyAccessToken(ta.token)).session.sessionId).toBe(a.sessionId);
    expect((await tokens.verifyAccessToken(tb.token)).session.sessionId).toBe(b.sessionId);
  });

  test('signs an RFC 9068 access token with kid, EdDSA by default, that node:crypto verifies from the JWKS alone', async ({ flow: h }) => {
    const s = await signIn(h);
    const signed = await tokens.signAccessToken(s);
    // RFC 9068 §2.1: typ "at+jwt"; RFC 7515 §4.1.4: kid names the key.
    expect(header(signed.token)).toEqual({ alg: 'EdDSA', kid: signed.kid, typ: 'at+jwt' });
    const claims = JSON.parse(b64(signed.token.split('.')[1] ?? '').toString('utf8')) as Record<string, unknown>;
    expect(claims).toMatchObject({
      sub: s.user.id,
      sid: s.sessionId,
      org: s.organization.id,
      jti: s.accessTokenJti,
      iss: 'platform-data',
      aud: 'platform-data',
    });
    // Never past the configured lifetime (ACCESS_TOKEN_TTL_SECONDS, default 900) nor the session.
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(h.t.config.auth.accessTokenTtlSeconds);

    const jwks = await ring.jwks();
    const jwk = jwks.keys.find((k) => k.kid === signed.kid);
    // RFC 8037 §2: an Ed25519 public key is kty "OKP", crv "Ed25519", x = the 32-octet key; RFC 7517 §4.2/§4.4/§4.5 use/alg/kid.
    expect(jwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: signed.kid, alg: 'EdDSA', use: 'sig' });
    expect(b64(jwk?.x ?? '')).toHaveLength(32);
    // RFC 7517 §9.2 / RFC 8037 §2: the private member "d" is never published.
    expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
    expect(independentlyVerifies(signed.token, jwk as PublicJwk)).toBe(true);

    const verified = await tokens.verifyAccessToken(signed.token);
    expect(verified).toMatchObject({ kid: signed.kid, jti: s.accessTokenJti, session: { sessionId: s.sessionId, userId: s.user.id } });
  });

  test('stores the private key only as a SecretBox envelope', async ({ flow: h }) => {
    const rows = await h.platform.resolve(PostgresConnection).ownerPool.any(sql.type(z.object({ t: z.string(), k: z.instanceof(Buffer) }))`
      SELECT row_to_json(s)::text AS t, private_key AS k FROM signing_keys s`);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.t).not.toMatch(/PRIVATE KEY|"d"/);
      expect(r.k.toString('latin1')).not.toContain('PRIVATE KEY');
      expect(r.k.readUInt8(0)).toBe(1); // SECRET_BOX_VERSION
    }
  });

  test('refuses tampered, unsigned, foreign-kid and malformed tokens with TokenError invalid', async ({ flow: h }) => {
    const signed = await tokens.signAccessToken(await signIn(h));
    const [hh = '', p = '', s = ''] = signed.token.split('.');
    const payload = JSON.parse(b64(p).toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...payload, org: '00000000-0000-4000-8000-000000000000' })).toString('base64url');
    const none = Buffer.from(JSON.stringify({ alg: 'none', kid: signed.kid, typ: 'at+jwt' })).toString('base64url');
    const hs = Buffer.from(JSON.stringify({ alg: 'HS256', kid: signed.kid, typ: 'at+jwt' })).toString('base64url');
    const otherKid = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'AAAAAAAAAAAAAAAAAAAAAA', typ: 'at+jwt' })).toString('base64url');
    const wrongTyp = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: signed.kid, typ: 'JWT' })).toString('base64url');
    for (const bad of [
      `${hh}.${forged}.${s}`,
      `${none}.${p}.${s}`,
      `${hs}.${p}.${s}`,
      `${otherKid}.${p}.${s}`,
      `${wrongTyp}.${p}.${s}`,
      `${hh}.${p}.${s.slice(0, -4)}AAAA`,
      'a.b.c',
    ]) {
      const error = await tokens.verifyAccessToken(bad).catch((e: unknown) => e);
      expect(error, bad.slice(0, 40)).toBeInstanceOf(TokenError);
      expect(error).toMatchObject({ reason: 'invalid' });
    }
  });

  test('answers expired after exp (plus the clock tolerance), before any session lookup', async ({ flow: h }) => {
    const signed = await tokens.signAccessToken(await signIn(h));
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(signed.expiresAt.getTime() + (DEFAULT_SIGNING_KEY_OPTIONS.clockToleranceSeconds + 1) * 1000);
      await expect(tokens.verifyAccessToken(signed.token)).rejects.toMatchObject({ reason: 'expired' });
    } finally {
      vi.useRealTimers();
    }
    await expect(tokens.signAccessToken({ ...(await signIn(h)), expiresAt: new Date(Date.now() - 1000) })).rejects.toMatchObject({ reason: 'expired' });
  });

  test('ends a token with its session: logout, and revoke-all (the revocation epoch in Redis)', async ({ flow: h }) => {
    const a = await signIn(h);
    const ta = await tokens.signAccessToken(a);
    await h.revoker.logout(a.sessionId);
    await expect(tokens.verifyAccessToken(ta.token)).rejects.toMatchObject({ reason: 'revoked' });

    const b = await signIn(h);
    const tb = await tokens.signAccessToken(b);
    expect((await second.resolve(AccessTokens).verifyAccessToken(tb.token)).session.source).toBe('cache');
    await h.revoker.logoutEverywhere(b.user.id);
    await expect(tokens.verifyAccessToken(tb.token)).rejects.toBeInstanceOf(TokenError);
    await expect(second.resolve(AccessTokens).verifyAccessToken(tb.token)).rejects.toBeInstanceOf(TokenError);
  });

  test('verifies against PostgreSQL while the session cache is unavailable, and still refuses a revoked session', async ({ flow: h }) => {
    const live = await signIn(h);
    const doomed = await signIn(h);
    const [tl, td] = await Promise.all([tokens.signAccessToken(live), tokens.signAccessToken(doomed)]);
    await h.revoker.logout(doomed.sessionId);
    // Open the breaker as a failed revocation would: Redis answers nothing until the cool-down and replay.
    h.platform.resolve(SessionCacheBreaker).revocationPending();
    expect(h.platform.resolve(SessionCacheBreaker).state).toBe('open');
    expect((await tokens.verifyAccessToken(tl.token)).session.source).toBe('postgres');
    await expect(tokens.verifyAccessToken(td.token)).rejects.toMatchObject({ reason: 'revoked' });
  });

  test('rotates: the previous key stays in the JWKS and verifies its tokens until they expire, then neither', async ({ flow: h }) => {
    const s = await signIn(h);
    const old = await tokens.signAccessToken(s);
    const kid = await ring.rotate();
    expect(kid).not.toBe(old.kid);
    const fresh = await tokens.signAccessToken(s);
    expect(fresh.kid).toBe(kid);
    expect((await ring.jwks()).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([old.kid, kid]));
    expect((await tokens.verifyAccessToken(old.token)).kid).toBe(old.kid);
    // The other process learns the new kid on its first unknown-kid verification.
    expect((await second.resolve(AccessTokens).verifyAccessToken(fresh.token)).kid).toBe(kid);
    // How long the old key was kept: at least the token lifetime.
    const until = await h.platform.resolve(PostgresConnection).ownerPool.oneFirst(sql.type(z.object({ s: z.number() }))`
      SELECT extract(epoch FROM publish_until - retired_at)::int AS s FROM signing_keys WHERE kid = ${old.kid}`);
    expect(until).toBeGreaterThanOrEqual(h.t.config.auth.accessTokenTtlSeconds);

    // Its publication ends (as if the window had passed): gone from the JWKS, its tokens refused.
    await h.platform.resolve(PostgresConnection).ownerPool.query(sql.type(z.never())`
      UPDATE signing_keys SET publish_until = now() - interval '1 second' WHERE kid = ${old.kid}`);
    const restarted = createPlatform(h.t.config, { stores: ['postgres', 'redis'] });
    await restarted.start();
    try {
      expect((await restarted.resolve(SigningKeyRing).jwks()).keys.map((k) => k.kid)).not.toContain(old.kid);
      await expect(restarted.resolve(AccessTokens).verifyAccessToken(old.token)).rejects.toMatchObject({ reason: 'invalid' });
      expect((await restarted.resolve(AccessTokens).verifyAccessToken(fresh.token)).kid).toBe(kid);
    } finally {
      await restarted.stop();
    }
  });

  test('signs ES256 when configured; node:crypto verifies the R||S signature from the P-256 JWK', async ({ flow: h }) => {
    const es = createPlatform(h.t.config, { stores: ['postgres', 'redis'], signingKeys: { algorithm: 'ES256' } });
    await es.start();
    try {
      await es.resolve(SigningKeyRing).rotate();
      const signed = await es.resolve(AccessTokens).signAccessToken(await signIn(h));
      expect(header(signed.token)).toMatchObject({ alg: 'ES256', kid: signed.kid });
      expect(b64(signed.token.split('.')[2] ?? '')).toHaveLength(64);
      const jwk = (await es.resolve(SigningKeyRing).jwks()).keys.find((k) => k.kid === signed.kid);
      // RFC 7518 §6.2.1: kty "EC", crv "P-256", x and y each the full 32-octet coordinate.
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(b64(jwk?.x ?? '')).toHaveLength(32);
      expect(b64(jwk?.y ?? '')).toHaveLength(32);
      expect(independentlyVerifies(signed.token, jwk as PublicJwk)).toBe(true);
      // The EdDSA process verifies it too: the key's own algorithm, from the ring.
      expect((await tokens.verifyAccessToken(signed.token)).kid).toBe(signed.kid);
    } finally {
      await es.stop();
    }
  });

  test('re-encrypts the private keys under a new SecretBox key; tokens signed before still verify, new ones sign', async ({ flow: h }) => {
    const signed = await tokens.signAccessToken(await signIn(h));
    // Rotate the SecretBox ring: the old key stays (to decrypt), k2 becomes active.
    const env = { ...h.t.env, PLATFORM_ENCRYPTION_KEYS: `${h.t.env.PLATFORM_ENCRYPTION_KEYS},${testKeyRing(['k2'])}`, PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: 'k2' };
    const rotated = createPlatform(loadConfig(env), { stores: ['postgres', 'redis'] });
    await rotated.start();
    try {
      const result = await rotated.resolve(SigningKeyRepository).reencryptAll();
      expect(result.failedKids).toEqual([]);
      expect(result.rewritten).toBeGreaterThan(0);
      expect(await rotated.resolve(SigningKeyRepository).reencryptAll()).toEqual({ rewritten: 0, failedKids: [] });
      expect((await rotated.resolve(AccessTokens).verifyAccessToken(signed.token)).kid).toBe(signed.kid);
      const again = await rotated.resolve(AccessTokens).signAccessToken(await signIn(h));
      expect((await tokens.verifyAccessToken(again.token)).kid).toBe(again.kid);
    } finally {
      await rotated.stop();
    }
  });
});
