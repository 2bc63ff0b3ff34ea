import { Redis } from 'ioredis';
import pg from 'pg';
import { SESSION_BY_ID as SESSION_BY_ID_STATEMENT, SessionRepository } from '../../src/postgres/repositories/session-repository.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';
import { SessionCache, type CachedSession } from '../../src/redis/repositories/session-cache.js';
import { cachedSessionCodec } from '../../src/redis/repositories/cached-session-codec.js';
import type { Platform } from '../../src/platform.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { runInterleaved } from '../interleaved-runner.js';
import { applySharedCommandTimeout } from '../../src/redis/shared-command-timeout.js';
import { PROFILE_ROW } from './profile-row-names.js';

const REDIS_CONCURRENCY = 16;
const SEED_BATCH = 10_000;
/** Seeded records expire on their own, so a killed run leaves nothing behind for long. */
const SEED_TTL_MS = 30 * 60 * 1000;

export const sessionUserId = (n: number): string => `bench-user-${n}`;
export const sessionId = (n: number): string => `bench-session-${n}`;

/**
 * Writes `count` session records the way SessionCache.put stores them (key
 * from RedisKeys, value from cachedSessionCodec), pipelined: put() runs a
 * Lua script per record, far too slow for a million; validate() is then
 * checked to answer `hit` on a sample before anything is measured.
 */
export async function seedSessions(platform: Platform, redis: Redis, count: number): Promise<void> {
  const keys = platform.resolve(RedisKeys);
  const expiresAt = Date.now() + 2 * 60 * 60 * 1000;
  for (let start = 1; start <= count; start += SEED_BATCH) {
    const pipeline = redis.pipeline();
    for (let n = start; n < Math.min(start + SEED_BATCH, count + 1); n += 1) {
      const record: CachedSession = {
        sessionId: sessionId(n),
        userId: sessionUserId(n),
        organizationId: null,
        expiresAt,
        revocationEpoch: 0,
        roles: ['member'],
        scopes: ['knowledge:read'],
        mfaVerified: false,
        confirmed: true,
      };
      pipeline.set(keys.sessionRecord(record.userId, record.sessionId), cachedSessionCodec.encode(record), 'PX', SEED_TTL_MS);
    }
    await pipeline.exec();
  }
  const cache = platform.resolve(SessionCache);
  for (const n of [1, count, Math.ceil(count / 2)]) {
    const result = await cache.validate({ userId: sessionUserId(n), sessionId: sessionId(n) });
    if (result.status !== 'hit') throw new Error(`bench: seeded session ${n} does not validate as a hit (${result.status}); the record format changed`);
  }
}

/** Deletes every key under `prefix` (SCAN + UNLINK, bounded by the key count). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  for (let i = 0; i < 100_000; i += 1) {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000);
    if (found.length > 0) deleted += await redis.unlink(...found);
    cursor = next;
    if (cursor === '0') break;
  }
  return deleted;
}

/** The statement SessionRepository.get sends (through the platform_auth function; its text, imported, so the baseline moves the same bytes). */
const SESSION_BY_ID = SESSION_BY_ID_STATEMENT.text;

/**
 * The miss path as the validator runs it (validate → miss with its epoch → SessionRepository.get) and
 * the raw lookup it is compared with, over up to 20 000 sessions of the main database.
 */
async function missPath(ctx: BenchContext, pgPool: pg.Pool) {
  const cache = ctx.platform.resolve(SessionCache);
  const repository = ctx.platform.resolve(SessionRepository);
  // Only the seeded sessions: rows run before (login, validation) cache the sessions they create, and those would hit.
  const { rows: sessions } = await pgPool.query<{ id: string; user_id: string }>(
    "SELECT id, user_id FROM sessions WHERE access_token_jti LIKE 'bench-jti-%' ORDER BY id LIMIT 20000",
  );
  return {
    sessions,
    ours: async (s: { id: string; user_id: string }) => {
      const r = await cache.validate({ userId: s.user_id, sessionId: s.id });
      if (r.status !== 'miss') throw new Error(`bench: expected a miss, got ${r.status}`);
      if (r.epoch === undefined) await cache.readEpoch(s.user_id);
      if (!(await repository.get(s.id))) throw new Error('bench: session row not found');
    },
    raw: async (s: { id: string }) => {
      await pgPool.query({ name: 'bench_session_by_id', text: SESSION_BY_ID, values: [s.id] });
    },
  };
}

/** Row 3: validate (hit) through SessionCache vs a bare GET; and the miss path vs one Postgres query. */
export async function sessionRows(ctx: BenchContext, seeded: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const cache = ctx.platform.resolve(SessionCache);
  const keys = ctx.platform.resolve(RedisKeys);
  const bare = new Redis(ctx.redisUrl, { lazyConnect: true });
  const pgPool = new pg.Pool({ connectionString: ctx.db.ownerUrl, max: 5 });
  try {
    await bare.connect();
    const ids = sampleIds(seeded, 20_000, 11);
    const nextOurs = keyCycle(ids);
    const nextBase = keyCycle(ids);
    const hitSpec: RowSpec = {
      name: 'session validate (Redis hit)',
      unit: 'validate',
      oursLabel: 'SessionCache.validate by session id (one MGET of record and epoch; marker, expiry, epoch and schema checked in Node)',
      baselineLabel: 'bare ioredis GET of the record key',
      goal: '≥ 0.80×',
      goalMinRatio: 0.8,
      backend: ctx.backends.redis,
      note: `${seeded.toLocaleString('en')} cached sessions; ${REDIS_CONCURRENCY} concurrent callers on one connection each side`,
      shortfall: {
        reason:
          "the MGET of record and epoch alone vs a GET (Redis' side), then the record's checks in Node that a bare GET does not make: JSON.parse, revocation marker, expiry, epoch, schema",
        profiles: [PROFILE_ROW.sessionCommand, PROFILE_ROW.sessionClientWork],
      },
    };
    ctx.log(`  ${hitSpec.name}`);
    const hit = await runInterleaved(
      async () => {
        const n = nextOurs();
        const r = await cache.validate({ userId: sessionUserId(n), sessionId: sessionId(n) });
        if (r.status !== 'hit') throw new Error(`bench: expected a hit, got ${r.status}`);
      },
      async () => {
        const n = nextBase();
        if ((await bare.get(keys.sessionRecord(sessionUserId(n), sessionId(n)))) === null) throw new Error('bench: bare GET missed');
      },
      { ...ctx.timing, concurrency: REDIS_CONCURRENCY },
    );
    rows.push(measuredRow(hitSpec, hit));

    const missSpec: RowSpec = {
      name: 'session validate (miss → Postgres)',
      unit: 'validate',
      oursLabel:
        "SessionCache.validate (a miss, which now carries the revocation epoch) + SessionRepository.get(id): the validator's loader once it takes the epoch from the miss instead of a readEpoch round trip",
      baselineLabel: 'the Postgres query alone (raw pg, named prepared, as the owner)',
      goal: '≥ 0.70×',
      goalMinRatio: 0.7,
      backend: `${ctx.backends.redis}; ${ctx.backends.postgres}`,
      note: 'put() is left out so every call stays a miss; so are the membership and settings reads the validator makes after the row (not part of the lookup compared here)',
      shortfall: {
        reason:
          "a miss must read the revocation epoch from Redis before PostgreSQL is trusted, so its floor is two sequential round trips (a GET, then the lookup) against the baseline's one; the profile row is ours against that floor, the rest of the gap is the floor itself",
        profiles: [PROFILE_ROW.sessionMissFloor],
      },
    };
    const path = await missPath(ctx, pgPool);
    if (path.sessions.length === 0) {
      rows.push(unavailableRow(missSpec, 'no sessions seeded in Postgres'));
      return rows;
    }
    const nextMissOurs = keyCycle(path.sessions);
    const nextMissBase = keyCycle(path.sessions);
    ctx.log(`  ${missSpec.name}`);
    const miss = await runInterleaved(
      () => path.ours(nextMissOurs()),
      () => path.raw(nextMissBase()),
      { ...ctx.timing, concurrency: 4 },
    );
    rows.push(measuredRow(missSpec, miss));
  } finally {
    bare.disconnect();
    await pgPool.end();
  }
  return rows;
}

/**
 * Where validate's time goes: the Redis command alone (server side: the MGET
 * of record and epoch) against a bare GET, and the full validate against that
 * command (client side: header, expiry and epoch checks, JSON.parse, schema).
 */
/** The platform's default REDIS_COMMAND_TIMEOUT_MS. */
const COMMAND_BOUND_MS = 2_000;

export async function sessionProfile(ctx: BenchContext, seeded: number): Promise<BenchRow[]> {
  const cache = ctx.platform.resolve(SessionCache);
  const keys = ctx.platform.resolve(RedisKeys);
  const bare = new Redis(ctx.redisUrl, { lazyConnect: true });
  const commandClient = new Redis(ctx.redisUrl, { lazyConnect: true });
  const rows: BenchRow[] = [];
  try {
    await Promise.all([bare.connect(), commandClient.connect()]);
    const ids = sampleIds(seeded, 20_000, 13);
    const command = (n: number) => commandClient.mget(keys.sessionRecord(sessionUserId(n), sessionId(n)), keys.sessionEpoch(sessionUserId(n)));
    const options = { ...ctx.timing, concurrency: REDIS_CONCURRENCY };
    {
      const a = keyCycle(ids);
      const b = keyCycle(ids);
      ctx.log('  profile: validate command alone');
      const result = await runInterleaved(
        async () => void (await command(a())),
        async () => {
          const n = b();
          await bare.get(keys.sessionRecord(sessionUserId(n), sessionId(n)));
        },
        options,
      );
      rows.push(
        measuredRow(
          {
            name: PROFILE_ROW.sessionCommand,
            unit: 'validate',
            oursLabel: 'MGET record + epoch (what validate by session id sends), reply unparsed',
            baselineLabel: 'bare ioredis GET',
            backend: ctx.backends.redis,
          },
          result,
        ),
      );
    }
    {
      // What the command bound costs per command: ioredis's commandTimeout (a timer per command, what the
      // platform's client used before) against applySharedCommandTimeout (one timer per client, what it uses now).
      const shared = new Redis(ctx.redisUrl, { lazyConnect: true });
      applySharedCommandTimeout(shared, COMMAND_BOUND_MS);
      const perCommand = new Redis(ctx.redisUrl, { lazyConnect: true, commandTimeout: COMMAND_BOUND_MS });
      try {
        await Promise.all([shared.connect(), perCommand.connect()]);
        const mget = (client: Redis, n: number) => client.mget(keys.sessionRecord(sessionUserId(n), sessionId(n)), keys.sessionEpoch(sessionUserId(n)));
        const a = keyCycle(ids);
        const b = keyCycle(ids);
        ctx.log('  profile: command bound');
        const result = await runInterleaved(
          async () => void (await mget(shared, a())),
          async () => void (await mget(perCommand, b())),
          options,
        );
        rows.push(
          measuredRow(
            {
              name: 'profile: command bound, one timer per client vs one per command',
              unit: 'validate',
              oursLabel: `the MGET on a client bounded by applySharedCommandTimeout (${COMMAND_BOUND_MS} ms)`,
              baselineLabel: `the same MGET on a client with ioredis commandTimeout (${COMMAND_BOUND_MS} ms)`,
              backend: ctx.backends.redis,
            },
            result,
          ),
        );
      } finally {
        shared.disconnect();
        perCommand.disconnect();
      }
    }
    {
      const a = keyCycle(ids);
      const b = keyCycle(ids);
      ctx.log('  profile: validate client-side work');
      const result = await runInterleaved(
        async () => {
          const n = a();
          await cache.validate({ userId: sessionUserId(n), sessionId: sessionId(n) });
        },
        async () => void (await command(b())),
        options,
      );
      rows.push(
        measuredRow(
          {
            name: PROFILE_ROW.sessionClientWork,
            unit: 'validate',
            oursLabel: 'SessionCache.validate',
            baselineLabel: 'the same MGET, reply unparsed',
            backend: ctx.backends.redis,
          },
          result,
        ),
      );
    }
    {
      // The floor of the miss path: a miss needs one Redis round trip before the Postgres read (the epoch must be
      // read first, docs/sessions.md), so its ratio to the raw lookup alone is bounded by this pair of round trips.
      const pgPool = new pg.Pool({ connectionString: ctx.db.ownerUrl, max: 5 });
      try {
        const path = await missPath(ctx, pgPool);
        if (path.sessions.length > 0) {
          const a = keyCycle(path.sessions);
          const b = keyCycle(path.sessions);
          ctx.log('  profile: miss path vs its floor');
          const result = await runInterleaved(
            () => path.ours(a()),
            async () => {
              const s = b();
              await bare.get(keys.sessionEpoch(s.user_id));
              await path.raw(s);
            },
            { ...ctx.timing, concurrency: 4 },
          );
          rows.push(
            measuredRow(
              {
                name: PROFILE_ROW.sessionMissFloor,
                unit: 'validate',
                oursLabel: 'the miss row: SessionCache.validate (miss) + SessionRepository.get',
                baselineLabel: 'a bare GET, then the raw Postgres lookup: the two round trips a miss cannot avoid',
                backend: `${ctx.backends.redis}; ${ctx.backends.postgres}`,
              },
              result,
            ),
          );
        }
      } finally {
        await pgPool.end();
      }
    }
  } finally {
    bare.disconnect();
    commandClient.disconnect();
  }
  return rows;
}
