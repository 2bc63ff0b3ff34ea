import { loadConfig } from '../../src/config.js';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import type { Platform } from '../../src/platform.js';
import { PasswordHasher } from '../../src/security/password-hasher.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { benchEmail, withAdmin } from '../bench-database.js';
import { runInterleaved, type InterleavedOptions } from '../interleaved-runner.js';
import { loginProfileRowName } from './profile-row-names.js';

const PASSWORD = 'correct horse battery staple 42';
/** bcrypt runs on libuv's 4 threads; 4 callers keep both cores busy with hashing on either side. */
const CONCURRENCY = 4;

/** The cost a deployment gets when it sets no BCRYPT_COST: what "the same cost" means for the goal. */
export const DEFAULT_BCRYPT_COST = loadConfig({ PLATFORM_ENV: 'test', LOG_LEVEL: 'silent' }).auth.bcryptCost;

/**
 * At the default cost one hash takes ≈ 240 ms on this machine size, so the
 * run's usual 150 ms / 800 ms slices would hold one or two logins per caller:
 * this row gets longer slices (fewer, longer samples; still interleaved).
 */
function defaultCostTiming(ctx: BenchContext): InterleavedOptions {
  return ctx.quick
    ? { concurrency: CONCURRENCY, rounds: 2, sliceMs: 700, warmupMs: 400 }
    : { concurrency: CONCURRENCY, rounds: 6, sliceMs: 2_500, warmupMs: 1_500, repeats: 3 };
}

/**
 * Members of the seeded organizations, split in two halves so each login row
 * has users whose stored hash already has its platform's cost (otherwise
 * login would rehash — a second bcrypt — on every call).
 */
function memberEmails(ctx: BenchContext, half: 0 | 1): string[] {
  const members = ctx.orgs * ctx.membersPerOrg;
  const size = Math.floor(members / 2);
  return sampleIds(size, 5_000, 19 + half).map((n) => benchEmail(n + half * size));
}

async function measureLogin(ctx: BenchContext, platform: Platform, spec: RowSpec, emails: string[], timing: InterleavedOptions): Promise<BenchRow> {
  let signIn: PasswordSignIn;
  try {
    signIn = platform.resolve(PasswordSignIn);
  } catch (error) {
    return unavailableRow(spec, `not yet available: PasswordSignIn cannot be resolved (${(error as Error).message})`);
  }
  const hasher = platform.resolve(PasswordHasher);
  const hash = await hasher.hash(PASSWORD);
  await withAdmin(ctx.db.ownerUrl, (c) =>
    c.query(`UPDATE users SET password_hash = $1, password_changed_at = now() WHERE email = ANY($2::citext[])`, [hash, [...new Set(emails)]]),
  );
  await signIn.login(emails[0] ?? benchEmail(1), PASSWORD);
  const a = keyCycle(emails);
  ctx.log(`  ${spec.name}`);
  const result = await runInterleaved(
    async () => void (await signIn.login(a(), PASSWORD)),
    async () => {
      if (!(await hasher.verify(PASSWORD, hash))) throw new Error('bench: verify failed');
    },
    timing,
  );
  return measuredRow(spec, result);
}

/**
 * Row 6: PasswordSignIn.login (throttle check, lookup, bcrypt verify, lockout
 * bookkeeping, session issue in Postgres + Redis, audit) vs
 * PasswordHasher.verify alone, both at the default BCRYPT_COST — the cost
 * the goal is about — on a platform configured with it.
 */
export async function loginRow(ctx: BenchContext): Promise<BenchRow> {
  const cost = DEFAULT_BCRYPT_COST;
  const spec: RowSpec = {
    name: 'login throughput',
    unit: 'login',
    oursLabel: 'PasswordSignIn.login (throttle, lookup, bcrypt verify, session issue, audit)',
    baselineLabel: `PasswordHasher.verify alone (bcrypt compare, cost ${cost})`,
    goal: '≥ 0.97×',
    goalMinRatio: 0.97,
    backend: `${ctx.backends.postgres}; ${ctx.backends.redis}`,
    note: `bcrypt cost ${cost} (the default); ${CONCURRENCY} callers per side; longer slices than the other rows (see the profile row at cost 10 for the same path with cheaper hashing)`,
    shortfall: {
      reason:
        "bcrypt at the default cost keeps the machine's cores busy, so the rest of a login (its PostgreSQL and Redis round trips, Node's and the backends' CPU) comes out of the same cores; the profile at the run's cheaper cost weighs that non-bcrypt CPU about 4× more",
      profiles: [loginProfileRowName(ctx.platform.config.auth.bcryptCost)],
    },
  };
  const platform = await ctx.platformFor(
    { DATABASE_URL: ctx.db.ownerUrl, DATABASE_APP_URL: ctx.db.appUrl, REDIS_KEY_PREFIX: ctx.redisPrefix, BCRYPT_COST: String(cost) },
    ['postgres', 'redis'],
  );
  return measureLogin(ctx, platform, spec, memberEmails(ctx, 0), defaultCostTiming(ctx));
}

/**
 * Profile: the same login at the run's BCRYPT_COST (10, ≈ 4× cheaper
 * hashing), so the non-bcrypt part of login weighs 4× more in the ratio.
 */
export async function loginProfileRow(ctx: BenchContext): Promise<BenchRow> {
  const cost = ctx.platform.config.auth.bcryptCost;
  const spec: RowSpec = {
    name: loginProfileRowName(cost),
    unit: 'login',
    oursLabel: 'PasswordSignIn.login, as row 6',
    baselineLabel: `PasswordHasher.verify alone (bcrypt compare, cost ${cost})`,
    backend: `${ctx.backends.postgres}; ${ctx.backends.redis}`,
    note: `informational: cheaper hashing magnifies the rest of login; ${CONCURRENCY} callers per side`,
  };
  return measureLogin(ctx, ctx.platform, spec, memberEmails(ctx, 1), { ...ctx.timing, concurrency: CONCURRENCY });
}
