import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, vi } from 'vitest';
import { expectSignedIn } from '../../../src/flows/auth/expect-signed-in.js';
import { AuditWriter } from '../../../src/postgres/repositories/audit-writer.js';
import { SecuritySettingsRepository } from '../../../src/postgres/repositories/security-settings-repository.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import type { FlowHarness } from '../../support/flow-harness.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

/**
 * The declared round-trip budget of a password sign-in (docs/benchmarks.md, "Issue 22, fourth round: login"):
 * on two cores at bcrypt cost 12 the rest of a login has ≈ 6 ms of CPU for the 0.97× goal, and every round trip
 * costs client and server CPU. PostgreSQL: the credentials lookup, the lockout's reserve and refund around
 * bcrypt, memberships ∥ MFA status, the organization's security settings, the successful-login stamp ∥ the
 * risk score's sessions, and the issuing transaction as ONE pipelined statement (sql/0120). Redis: the throttle
 * check, the revocation epoch, the throttle reset, the cache write-through. A new statement on this path has to
 * raise the budget here, visibly.
 */
const POSTGRES_ROUND_TRIPS = 9;
const REDIS_COMMANDS = 4;

const client = { ip: '203.0.113.41', userAgent: 'vitest', deviceId: 'round-trips' };

/**
 * Every `pg` client call is one round trip here (a simple statement, or a pipeline ending in one Sync). Only calls
 * made in `run`'s async context count: the platform's own timers (the revocation outbox check, the audit writer's
 * flush) run beside it and are not the sign-in's.
 */
async function countRoundTrips<T>(run: () => Promise<T>): Promise<{ result: T; postgres: string[]; redis: string[] }> {
  const inRun = new AsyncLocalStorage<true>();
  const postgres: string[] = [];
  const redis: string[] = [];
  const query = pg.Client.prototype.query;
  const sendCommand = Redis.prototype.sendCommand;
  const queries = vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
    if (inRun.getStore()) {
      const q = args[0] as { name?: string; text?: string; constructor: { name: string } } | string;
      postgres.push(typeof q === 'string' ? q : (q.name ?? q.text ?? q.constructor.name));
    }
    return (query as (...a: unknown[]) => unknown).apply(this, args) as never;
  });
  const commands = vi.spyOn(Redis.prototype, 'sendCommand').mockImplementation(function (this: Redis, ...args: unknown[]) {
    if (inRun.getStore()) redis.push((args[0] as { name: string }).name);
    return (sendCommand as (...a: unknown[]) => unknown).apply(this, args) as never;
  });
  try {
    return { result: await inRun.run(true, run), postgres, redis };
  } finally {
    queries.mockRestore();
    commands.mockRestore();
  }
}

async function signedInUser(h: FlowHarness, maxConcurrentSessions?: number): Promise<string> {
  const u = await h.user();
  if (maxConcurrentSessions !== undefined) {
    const ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner' });
    await h.platform.resolve(SecuritySettingsRepository).update(ctx, { maxConcurrentSessions });
  }
  // Warm: the first call on a connection parses the named statements; the count is about every later one.
  expectSignedIn(await h.signIn.login(u.email, PASSWORD, client));
  // Not the sign-in's: the sign-up's batched audit events, which the writer would flush on its timer meanwhile.
  await h.platform.resolve(AuditWriter).flush();
  return u.email;
}

describe.skipIf(!requireStores('postgres', 'redis'))('login round trips (issue 22)', () => {
  test('a password sign-in stays within its declared PostgreSQL and Redis budget', async ({ flow: h }) => {
    const email = await signedInUser(h);
    const { result, postgres, redis } = await countRoundTrips(() => h.signIn.login(email, PASSWORD, client));
    expectSignedIn(result);
    expect(postgres.length, postgres.join('\n')).toBeLessThanOrEqual(POSTGRES_ROUND_TRIPS);
    expect(redis.length, redis.join('\n')).toBeLessThanOrEqual(REDIS_COMMANDS);
  });

  test('the concurrent-session limit revokes the oldest inside the same statement', async ({ flow: h }) => {
    const email = await signedInUser(h, 1);
    const { result, postgres } = await countRoundTrips(() => h.signIn.login(email, PASSWORD, client));
    expectSignedIn(result);
    // One more, after the commit: the revoked session's queued Redis half is deleted once Redis took it.
    expect(postgres.length, postgres.join('\n')).toBeLessThanOrEqual(POSTGRES_ROUND_TRIPS + 1);
    expect(postgres.at(-1)).toMatch(/^DELETE FROM session_cache_revocations/);
  });
});
