import { SessionCache } from '../../src/redis/repositories/session-cache.js';
import type { Platform } from '../../src/platform.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, type RowSpec } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { benchEmail, withAdmin } from '../bench-database.js';
import { runInterleaved } from '../interleaved-runner.js';
import { sessionId, sessionUserId } from './session-rows.js';
import { PROFILE_ROW } from './profile-row-names.js';

const compact = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000} M` : `${n / 1_000} k`);

/** How a user is looked up by email in the growth row. */
export type UserLookup = (platform: Platform) => (email: string) => Promise<unknown>;

/** Row 8 (users): p50 of a lookup by email at `largeUsers` vs `smallUsers`, interleaved across two databases. */
export async function userGrowthRow(ctx: BenchContext, lookup: UserLookup, lookupLabel: string, note?: string): Promise<BenchRow> {
  const sizes = await relationSizes(ctx);
  const spec: RowSpec = {
    name: `growth: user by email, ${compact(ctx.largeUsers)} vs ${compact(ctx.smallUsers)} users`,
    unit: 'lookup',
    oursLabel: `${lookupLabel} on ${compact(ctx.largeUsers)} users`,
    baselineLabel: `the same on ${compact(ctx.smallUsers)} users`,
    metric: 'p50',
    goal: 'p50 ≤ 1.3× apart (≥ 0.77×)',
    goalMinRatio: 1 / 1.3,
    backend: ctx.backends.postgres,
    shortfall: {
      reason:
        "both sides run the same code on tables of different sizes: the large side's keys spread over a table larger than shared_buffers (sizes in the note), so its lookups read pages from outside PostgreSQL's buffer cache; the profile row looks up the small side's keys on the large table — same code, same working set, only the table's size and index depth differ",
      profiles: [PROFILE_ROW.userGrowthSameKeys],
    },
    note: note ? `${note}; ${sizes}` : sizes,
  };
  return measureLookups(ctx, spec, lookup, sampleIds(ctx.largeUsers, 20_000, 3).map(benchEmail), sampleIds(ctx.smallUsers, 20_000, 3).map(benchEmail));
}

/** `lookup` on the large platform with `largeKeys` vs on the small one with `smallKeys`, interleaved, 4 callers. */
async function measureLookups(ctx: BenchContext, spec: RowSpec, lookup: UserLookup, largeKeys: string[], smallKeys: string[]): Promise<BenchRow> {
  const large = lookup(ctx.platform);
  const small = lookup(ctx.smallPlatform);
  const nextLarge = keyCycle(largeKeys);
  const nextSmall = keyCycle(smallKeys);
  ctx.log(`  ${spec.name}`);
  const result = await runInterleaved(
    async () => {
      if (!(await large(nextLarge()))) throw new Error('bench: user not found (large)');
    },
    async () => {
      if (!(await small(nextSmall()))) throw new Error('bench: user not found (small)');
    },
    { ...ctx.timing, concurrency: 4 },
  );
  return measuredRow(spec, result);
}

/** The users table with its indexes on each side, and the server's buffer cache, as the row's note states them. */
async function relationSizes(ctx: BenchContext): Promise<string> {
  const size = (url: string) =>
    withAdmin(url, async (c) => {
      const { rows } = await c.query<{ total: string; buffers: string }>(
        `SELECT pg_size_pretty(pg_total_relation_size('users')) AS total, current_setting('shared_buffers') AS buffers`,
      );
      return rows[0];
    });
  const [large, small] = await Promise.all([size(ctx.db.ownerUrl), size(ctx.smallDb.ownerUrl)]);
  return `users table with indexes: ${large?.total ?? '?'} large, ${small?.total ?? '?'} small; shared_buffers ${large?.buffers ?? '?'}`;
}

/**
 * Profile for the user growth row: the large table looked up with the small side's keys (users 1..smallUsers
 * exist in both databases), so both sides touch the same number of rows and only the table's size differs.
 */
export async function userGrowthSameKeysProfile(ctx: BenchContext, lookup: UserLookup, lookupLabel: string): Promise<BenchRow> {
  const spec: RowSpec = {
    name: PROFILE_ROW.userGrowthSameKeys,
    unit: 'lookup',
    oursLabel: `${lookupLabel} on ${compact(ctx.largeUsers)} users, the small side's keys`,
    baselineLabel: `the same keys on ${compact(ctx.smallUsers)} users`,
    metric: 'p50',
    backend: ctx.backends.postgres,
  };
  const keys = sampleIds(ctx.smallUsers, 20_000, 3).map(benchEmail);
  return measureLookups(ctx, spec, lookup, keys, keys);
}

/** Row 8 (sessions): p50 of SessionCache.validate with `large` vs `small` cached sessions (two key prefixes). */
export async function sessionGrowthRow(ctx: BenchContext, largePlatform: Platform, large: number, smallPlatform: Platform, small: number): Promise<BenchRow> {
  const spec: RowSpec = {
    name: `growth: session validate, ${compact(large)} vs ${compact(small)} sessions`,
    unit: 'validate',
    oursLabel: `SessionCache.validate (hit) among ${compact(large)} cached sessions`,
    baselineLabel: `the same among ${compact(small)}`,
    metric: 'p50',
    backend: ctx.backends.redis,
    note: 'informational (no goal in the issue); both key sets live in the same Redis',
  };
  const a = largePlatform.resolve(SessionCache);
  const b = smallPlatform.resolve(SessionCache);
  const nextA = keyCycle(sampleIds(large, 20_000, 5));
  const nextB = keyCycle(sampleIds(small, 20_000, 5));
  ctx.log(`  ${spec.name}`);
  const result = await runInterleaved(
    async () => {
      const n = nextA();
      if ((await a.validate({ userId: sessionUserId(n), sessionId: sessionId(n) })).status !== 'hit') throw new Error('bench: expected hit');
    },
    async () => {
      const n = nextB();
      if ((await b.validate({ userId: sessionUserId(n), sessionId: sessionId(n) })).status !== 'hit') throw new Error('bench: expected hit');
    },
    { ...ctx.timing, concurrency: 16 },
  );
  return measuredRow(spec, result);
}
