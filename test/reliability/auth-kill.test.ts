import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { PlatformError } from '../../src/errors.js';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../src/flows/auth/refresh-rotation.js';
import { SessionRevoker } from '../../src/flows/auth/session-revoker.js';
import { SignUpService } from '../../src/flows/auth/sign-up-service.js';
import { bootstrapPlatform } from '../../src/flows/bootstrap-platform.js';
import { createPlatform, type Platform } from '../../src/platform.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { requireStores } from '../support/require-stores.js';
import { testKeyRing } from '../support/test-env.js';
import { Figures, PASSWORD, sleep, startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis } from './reliability-support.js';

// Issue 16, "Done when": under a fault suite that SIGKILLs the process mid-traffic and compares committed
// changes with their audit events — 0 missing security audit events, 0 sessions alive without the caller
// holding them, 0 false reuse verdicts, 0 untyped errors, every call within its configured bound + 1 s.
// Private servers on this task's ports (PostgreSQL 5700-5749, Redis 6420-6429): they are crashed, frozen and restarted.
const PG_PORT = 5701;
const REDIS_PORT = 6421;
const CALLERS = 4;
const ROUNDS = 3;
const QUERY_TIMEOUT_MS = 1_500;
const CHILD = fileURLToPath(new URL('./children/auth-traffic.mjs', import.meta.url));

const figures = new Figures('faults');
afterAll(() => figures.flush());

function envFor(pg: PrivatePostgres, redis: PrivateRedis): Record<string, string> {
  return {
    LOG_LEVEL: 'silent',
    PLATFORM_ENV: 'test',
    BCRYPT_COST: '4',
    PLATFORM_ENCRYPTION_KEYS: testKeyRing(),
    REDIS_KEY_PREFIX: 'authkill:',
    DATABASE_URL: pg.url,
    DATABASE_APP_URL: `postgres://platform_app@127.0.0.1:${pg.port}/postgres`,
    REDIS_URL: redis.url,
    PG_STATEMENT_TIMEOUT_MS: '1000',
    PG_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
    STORE_CONNECT_TIMEOUT_MS: '1000',
    REDIS_COMMAND_TIMEOUT_MS: '500',
    REDIS_BREAKER_COOLDOWN_MS: '300',
  };
}

interface Round {
  received: Set<string>;
  loggedOut: Set<string>;
  refreshesReceived: Map<string, number>;
  /** The call each caller had begun and not seen answered when the kill landed. */
  inFlight: Array<{ op: string; sessionId?: string }>;
  untyped: number;
  errors: number;
}

/** Runs the traffic child for `ms`, SIGKILLs it, and parses what it had received. */
async function killRound(env: Record<string, string>, users: ReadonlyArray<{ email: string }>, ms: number): Promise<Round> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(users.map((u) => ({ email: u.email, password: PASSWORD })))], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 300 && !output.includes('READY'); i++) await sleep(50);
  expect(output, stderr).toContain('READY');
  await sleep(ms);
  child.kill('SIGKILL');
  await exited;
  const round: Round = { received: new Set(), loggedOut: new Set(), refreshesReceived: new Map(), inFlight: [], untyped: 0, errors: 0 };
  const open = new Map<string, { op: string; sessionId?: string }>();
  // A trailing partial line is a write the kill cut: it was not received.
  for (const line of output.split('\n').slice(0, -1)) {
    const [kind, a, b, c] = line.split(' ');
    if (kind === 'B') open.set(b!, { op: a!, ...(c === undefined ? {} : { sessionId: c }) });
    else if (kind === 'L') (round.received.add(b!), open.delete(a!));
    else if (kind === 'R') (round.refreshesReceived.set(b!, (round.refreshesReceived.get(b!) ?? 0) + 1), open.delete(a!));
    else if (kind === 'O') (round.loggedOut.add(b!), open.delete(a!));
    else if (kind === 'E') {
      round.errors++;
      if (b === 'UNTYPED') round.untyped++;
      open.delete(a!);
    }
  }
  round.inFlight = [...open.values()];
  return round;
}

describe.skipIf(!requireStores('postgres', 'redis'))('auth traffic in a process that is SIGKILLed mid-call (private PostgreSQL and Redis)', () => {
  let pg: PrivatePostgres;
  let redis: PrivateRedis;
  let platform: Platform;
  let env: Record<string, string>;
  const users: Array<{ email: string; userId: string }> = [];

  beforeAll(async () => {
    pg = await startPrivatePostgres(PG_PORT);
    redis = await startPrivateRedis(REDIS_PORT);
    env = envFor(pg, redis);
    platform = createPlatform(loadConfig(env), { stores: ['postgres', 'redis'] });
    const boot = await bootstrapPlatform(platform, { waitMs: 30_000 });
    expect(boot.map((b) => b.status)).not.toContain('failed');
    await platform.start();
    for (let i = 0; i < CALLERS; i++) {
      const email = `kill-${i}-${Date.now()}@example.test`;
      const { user } = await platform.resolve(SignUpService).createAccount({ email, password: PASSWORD, organizationName: 'Kill', ageConfirmed: true, emailVerified: true });
      users.push({ email, userId: user.id });
    }
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
    await redis?.stop();
    await pg?.stop();
  });

  it('every committed session, rotation and revocation is one the caller received or had in flight, each with its audit event', async () => {
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(await killRound(env, users, 1_500 + Math.floor(Math.random() * 1_500)));
    const owner = platform.resolve(PostgresConnection).ownerPool;
    const rows = await owner.any(sql.type(
      z.object({ id: z.uuid(), revoked_reason: z.string().nullable(), logins: z.number(), revocations: z.number(), rotations: z.number() }),
    )`
      SELECT s.id, s.revoked_reason,
        (SELECT count(*) FROM audit_log a WHERE a.event_type = 'auth.login.succeeded' AND a.details->>'sessionId' = s.id::text)::int AS logins,
        (SELECT count(*) FROM audit_log a WHERE a.event_type = 'auth.session.revoked' AND a.details->>'sessionId' = s.id::text)::int AS revocations,
        (SELECT count(*) FROM refresh_tokens t WHERE t.session_id = s.id AND t.rotated_at IS NOT NULL)::int AS rotations
      FROM sessions s WHERE s.user_id = ANY(${sql.array(users.map((u) => u.userId), 'uuid')})`);
    const reuse = await owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_log WHERE event_type = 'auth.refresh.reuse_detected'`);

    const received = new Set(rounds.flatMap((r) => [...r.received]));
    const loggedOut = new Set(rounds.flatMap((r) => [...r.loggedOut]));
    const refreshes = new Map(rounds.flatMap((r) => [...r.refreshesReceived]));
    const inFlight = rounds.flatMap((r) => r.inFlight);
    const loginsInFlight = inFlight.filter((f) => f.op === 'L').length;
    const missingLogin = rows.filter((r) => r.logins !== 1).length;
    const missingRevocation = rows.filter((r) => r.revoked_reason !== null && r.revocations !== 1).length;
    const unreceived = rows.filter((r) => !received.has(r.id));
    const unreceivedAlive = unreceived.filter((r) => r.revoked_reason === null).length;
    // A committed rotation the caller did not receive is only possible for the refresh it had in flight.
    const rotationGap = rows.filter((r) => received.has(r.id) && r.rotations - (refreshes.get(r.id) ?? 0) > (inFlight.some((f) => f.op === 'R' && f.sessionId === r.id) ? 1 : 0)).length;
    const revocationGap = rows.filter((r) => r.revoked_reason !== null && !loggedOut.has(r.id) && !inFlight.some((f) => f.op === 'O' && f.sessionId === r.id)).length;
    const untyped = rounds.reduce((n, r) => n + r.untyped, 0);
    figures.set('a3-sigkill', {
      check: `${ROUNDS} rounds: a child process with ${CALLERS} callers (login, 2 refreshes, every other session logged out) SIGKILLed after 1.5-3 s; private PostgreSQL 15 and Redis`,
      measured: `sessions committed ${rows.length}, received ${received.size}; missing auth.login.succeeded ${missingLogin}; revocations without exactly one auth.session.revoked ${missingRevocation}; rotations committed beyond those received or in flight ${rotationGap}; revocations neither answered nor in flight ${revocationGap}; reuse verdicts ${reuse}; untyped errors ${untyped}; live sessions never received ${unreceivedAlive} (logins in flight at the kills: ${loginsInFlight})`,
    });
    expect(rows.length).toBeGreaterThan(0);
    expect(missingLogin).toBe(0);
    expect(missingRevocation).toBe(0);
    expect(rotationGap).toBe(0);
    expect(revocationGap).toBe(0);
    expect(reuse).toBe(0);
    expect(untyped).toBe(0);
    // A session nobody received can only come from a login the kill interrupted after its commit
    // (the answer died with the process: no token for it ever left, so nothing can present it).
    expect(unreceived.length).toBeLessThanOrEqual(loginsInFlight);
  }, 120_000);
});
