import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { PlatformError } from '../../src/errors.js';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../src/flows/auth/refresh-rotation.js';
import { SessionRevoker } from '../../src/flows/auth/session-revoker.js';
import { SessionValidator } from '../../src/flows/auth/session-validator.js';
import { expectSignedIn } from '../../src/flows/auth/expect-signed-in.js';
import { SignUpService } from '../../src/flows/auth/sign-up-service.js';
import { bootstrapPlatform } from '../../src/flows/bootstrap-platform.js';
import { createPlatform, type Platform } from '../../src/platform.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { requireStores } from '../support/require-stores.js';
import { testKeyRing } from '../support/test-env.js';
import { Figures, startPrivatePostgres, type PrivatePostgres } from './reliability-support.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { PASSWORD } from '../support/auth-fixtures.js';
import { sleep } from '../support/sleep.js';

// Issue 16, "Done when": under a fault suite that SIGKILLs the process mid-traffic and compares committed
// changes with their audit events — 0 missing security audit events, 0 sessions alive without the caller
// holding them, 0 false reuse verdicts, 0 untyped errors, every call within its configured bound + 1 s.
// Private servers on this task's ports (PostgreSQL 5700-5749, Redis 6420-6429): they are crashed, frozen and restarted.
const PG_PORT = 5701;
const REDIS_PORT = 6421;
const PROXY_PORT = 6422;
const CALLERS = 4;
const ROUNDS = 3;
const QUERY_TIMEOUT_MS = 1_500;
// Short here so the test can wait it out: a session nobody received ends with this window (docs/sessions.md).
const CONFIRM_WINDOW_SECONDS = 3;
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
    SESSION_CONFIRM_WINDOW_SECONDS: String(CONFIRM_WINDOW_SECONDS),
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
    if (kind === 'B') {
      open.set(b!, { op: a!, ...(c === undefined ? {} : { sessionId: c }) });
      continue;
    }
    if (kind === 'L') round.received.add(b!);
    if (kind === 'R') round.refreshesReceived.set(b!, (round.refreshesReceived.get(b!) ?? 0) + 1);
    if (kind === 'O') round.loggedOut.add(b!);
    if (kind === 'E') {
      // E <op> <caller> <class> <code>
      round.errors++;
      if (c === 'UNTYPED') round.untyped++;
      open.delete(b!);
    } else {
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
      const { user } = await platform
        .resolve(SignUpService)
        .createAccount({ email, password: PASSWORD, organizationName: 'Kill', ageConfirmed: true, emailVerified: true });
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
    const validator = platform.resolve(SessionValidator);
    const rows = await owner.any(sql.type(
      z.object({
        id: z.uuid(),
        user_id: z.uuid(),
        revoked_reason: z.string().nullable(),
        logins: z.number(),
        revocations: z.number(),
        rotations: z.number(),
      }),
    )`
      SELECT s.id, s.user_id, s.revoked_reason,
        (SELECT count(*) FROM audit_log a WHERE a.event_type = 'auth.login.succeeded' AND a.details->>'sessionId' = s.id::text)::int AS logins,
        (SELECT count(*) FROM audit_log a WHERE a.event_type = 'auth.session.revoked' AND a.details->>'sessionId' = s.id::text)::int AS revocations,
        (SELECT count(*) FROM refresh_tokens t WHERE t.session_id = s.id AND t.rotated_at IS NOT NULL)::int AS rotations
      FROM sessions s WHERE s.user_id = ANY(${sql.array(
        users.map((u) => u.userId),
        'uuid',
      )})`);
    const reuse = await owner.oneFirst(
      sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_log WHERE event_type = 'auth.refresh.reuse_detected'`,
    );

    const rowsUser = new Map(rows.map((r) => [r.id, r.user_id]));
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
    const rotationGap = rows.filter(
      (r) => received.has(r.id) && r.rotations - (refreshes.get(r.id) ?? 0) > (inFlight.some((f) => f.op === 'R' && f.sessionId === r.id) ? 1 : 0),
    ).length;
    // Logouts only: the organization's session limit (default 5) revokes the oldest sessions at sign-in by itself.
    const revocationGap = rows.filter(
      (r) => r.revoked_reason === 'logout' && !loggedOut.has(r.id) && !inFlight.some((f) => f.op === 'O' && f.sessionId === r.id),
    ).length;
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

    // Issue 16, "Done when": 0 sessions alive without the caller holding them. Such a session was never
    // validated nor refreshed, so it is unconfirmed: once the confirmation window has passed, it is dead.
    await sleep(CONFIRM_WINDOW_SECONDS * 1000 + 500);
    const alive = await owner.anyFirst(sql.type(z.object({ id: z.uuid() }))`
      SELECT id FROM sessions WHERE user_id = ANY(${sql.array(
        users.map((u) => u.userId),
        'uuid',
      )}) AND revoked_at IS NULL AND expires_at > now()`);
    const aliveUnreceived = alive.filter((id) => !received.has(id)).length;
    const refused = await Promise.all(
      unreceived.map((r) =>
        validator.validate({ userId: rowsUser.get(r.id)!, sessionId: r.id }).then(
          () => 'ACCEPTED',
          (e: unknown) => (e instanceof PlatformError ? e.code : 'UNTYPED'),
        ),
      ),
    );
    figures.set('a3b-sigkill-confirm-window', {
      check: `the sessions of the ${ROUNDS} SIGKILL rounds, ${CONFIRM_WINDOW_SECONDS} s (SESSION_CONFIRM_WINDOW_SECONDS) + 0.5 s after the last kill`,
      measured: `sessions committed but never received ${unreceived.length}; of those still alive ${aliveUnreceived}; validations of them answered ${[...new Set(refused)].join('/') || 'none (no such session this run)'}`,
    });
    expect(aliveUnreceived).toBe(0);
    expect(refused.filter((v) => v === 'ACCEPTED' || v === 'UNTYPED')).toEqual([]);
  }, 120_000);

  it('PostgreSQL frozen, then restarted, under in-process traffic: every call answers within PG_QUERY_TIMEOUT_MS + 1 s (+ measured timer lag), errors typed, nothing half-written', async () => {
    const signIn = platform.resolve(PasswordSignIn);
    const rotation = platform.resolve(RefreshRotation);
    const revoker = platform.resolve(SessionRevoker);
    const calls: Array<{ op: string; ms: number; error?: string }> = [];
    const held = new Set<string>();
    let stop = false;
    // How late a 100 ms timer fires right now: on a loaded machine every await is late by about as much.
    let maxLag = 0;
    const lagProbe = (async () => {
      while (!stop) {
        const t0 = performance.now();
        await sleep(100);
        maxLag = Math.max(maxLag, performance.now() - t0 - 100);
      }
    })();
    const timed = async <T>(op: string, work: () => Promise<T>): Promise<T | undefined> => {
      const t0 = performance.now();
      try {
        const value = await work();
        calls.push({ op, ms: performance.now() - t0 });
        return value;
      } catch (error) {
        calls.push({ op, ms: performance.now() - t0, error: error instanceof PlatformError ? error.constructor.name : `UNTYPED ${String(error)}` });
        await sleep(50);
        return undefined;
      }
    };
    const caller = async (u: { email: string }) => {
      while (!stop) {
        const login = await timed('login', () => signIn.login(u.email, PASSWORD, {}));
        if (!login || login.status !== 'signed_in') continue;
        held.add(login.sessionId);
        const refreshed = await timed('refresh', () => rotation.refresh(login.refreshToken, {}));
        if (refreshed && (await timed('logout', () => revoker.logout(login.sessionId))) !== undefined) held.delete(login.sessionId);
      }
    };
    const traffic = Promise.all(users.map(caller));
    await sleep(1_000);
    await pg.freeze();
    await sleep(3_000);
    await pg.thaw();
    await sleep(1_000);
    await pg.restart();
    await sleep(2_000);
    stop = true;
    await traffic;
    await lagProbe;

    const bound = QUERY_TIMEOUT_MS + 1_000 + maxLag;
    const slowest = Math.max(...calls.map((c) => c.ms));
    const failed = calls.filter((c) => c.error !== undefined);
    const untyped = failed.filter((c) => c.error!.startsWith('UNTYPED'));
    const owner = platform.resolve(PostgresConnection).ownerPool;
    const missing = await owner.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM sessions s
      WHERE s.user_id = ANY(${sql.array(
        users.map((u) => u.userId),
        'uuid',
      )})
        AND (SELECT count(*) FROM audit_log a WHERE a.event_type = 'auth.login.succeeded' AND a.details->>'sessionId' = s.id::text) <> 1`);
    figures.set('a4-pg-freeze-restart-traffic', {
      check: `${CALLERS} callers (login, refresh, logout) against private PostgreSQL 15: frozen (SIGSTOP) 3 s, thawed, then restarted (immediate shutdown + start); PG_QUERY_TIMEOUT_MS ${QUERY_TIMEOUT_MS}`,
      measured: `calls ${calls.length}, failed ${failed.length} (${[...new Set(failed.map((c) => c.error))].join('/') || 'none'}), untyped ${untyped.length}; slowest ${Math.round(slowest)} ms against a bound of ${Math.round(bound)} ms (query timeout + 1 s + timer lag ${Math.round(maxLag)} ms); sessions without exactly one auth.login.succeeded ${missing}`,
    });
    expect(untyped).toEqual([]);
    expect(failed.length).toBeGreaterThan(0);
    expect(slowest).toBeLessThan(bound);
    expect(missing).toBe(0);
  }, 120_000);

  it('Redis partitioned from process A while A logs out: process B, which still reaches Redis and its old data, stops accepting the session', async () => {
    // A reaches Redis through a proxy that the test cuts (connections dropped, new ones refused): a partition
    // between A and Redis only. Redis keeps the session cached as valid; B talks to Redis directly.
    const proxy = await startCuttableProxy(PROXY_PORT, REDIS_PORT);
    const a = createPlatform(loadConfig({ ...env, REDIS_URL: `redis://127.0.0.1:${PROXY_PORT}/0` }), { stores: ['postgres', 'redis'] });
    const b = createPlatform(loadConfig(env), { stores: ['postgres', 'redis'] });
    await a.start();
    await b.start();
    try {
      const validatorB = b.resolve(SessionValidator);
      const u = users[0]!;
      const session = expectSignedIn(await a.resolve(PasswordSignIn).login(u.email, PASSWORD, {}));
      const ref = { userId: u.userId, jti: session.accessTokenJti };
      // The first validation confirms the new session (one PostgreSQL write); from then on B answers from Redis.
      await validatorB.validate(ref);
      expect((await validatorB.validate(ref)).source).toBe('cache');
      proxy.cut();
      const t0 = performance.now();
      // A's Redis half fails and is queued in PostgreSQL; logout still answers success once PostgreSQL committed.
      const loggedOut = await a.resolve(SessionRevoker).logout(session.sessionId);
      const logoutMs = performance.now() - t0;
      const verdict = () =>
        validatorB.validate(ref).then(
          () => 'ACCEPTED',
          (e: unknown) => (e instanceof PlatformError ? e.code : 'UNTYPED'),
        );
      // Past the residual window (a queued row older than REDIS_COMMAND_TIMEOUT_MS + 1 s, seen within one check interval).
      await sleep(500 + 1_000 + 1_000);
      const during = await verdict();
      proxy.heal();
      const after = await verdict();
      await sleep(500);
      const later = await verdict();
      const queued = await platform
        .resolve(PostgresConnection)
        .ownerPool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM session_cache_revocations`);
      figures.set('a5-redis-partition-two-processes', {
        check:
          'two platforms: A reaches Redis through a proxy the test cuts (partition A–Redis; Redis keeps the session cached as valid), B reaches Redis directly; A logs out',
        measured: `A's logout answered ${loggedOut} in ${Math.round(logoutMs)} ms; B 2.5 s later, Redis still holding the old record: ${during}; right after the partition heals: ${after}; 500 ms later: ${later}; revocations still queued: ${queued}`,
      });
      expect(loggedOut).toBe(true);
      expect([during, after, later]).toEqual(['TOKEN_REVOKED', 'TOKEN_REVOKED', 'TOKEN_REVOKED']);
    } finally {
      await a.stop();
      await b.stop();
      await proxy.close();
    }
  }, 60_000);
});

/** A TCP proxy to `target` on `port` whose `cut()` drops every connection and refuses new ones until `heal()`. */
async function startCuttableProxy(port: number, target: number): Promise<{ cut(): void; heal(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    cut: () => {
      open = false;
      for (const s of sockets) s.destroy();
    },
    heal: () => {
      open = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
