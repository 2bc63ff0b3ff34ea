import { AuthService } from '../../src/flows/auth-service.js';
import { PasswordHasher } from '../../src/security/password-hasher.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, unavailableRow, type RowSpec } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { benchEmail, withClient } from '../bench-database.js';
import { runInterleaved } from '../interleaved-runner.js';

const PASSWORD = 'correct horse battery staple 42';
/** bcrypt runs on libuv's 4 threads; 4 callers keep both cores busy with hashing on either side. */
const CONCURRENCY = 4;

/**
 * Row 5: AuthService.login (throttle check, lookup, bcrypt verify, lockout
 * bookkeeping, session issue in Postgres + Redis, audit) vs
 * PasswordHasher.verify alone, both at the run's BCRYPT_COST. The members of
 * the seeded organizations get a real bcrypt hash first.
 */
export async function loginRow(ctx: BenchContext): Promise<BenchRow> {
  const cost = ctx.platform.config.auth.bcryptCost;
  const spec: RowSpec = {
    name: 'login throughput',
    unit: 'login',
    oursLabel: 'AuthService.login (throttle, lookup, bcrypt verify, session issue, audit)',
    baselineLabel: `PasswordHasher.verify alone (bcrypt compare, cost ${cost})`,
    goal: '≥ 0.9×',
    goalMinRatio: 0.9,
    backend: `${ctx.backends.postgres}; ${ctx.backends.redis}`,
    note: `bcrypt cost ${cost}; ${CONCURRENCY} callers per side`,
  };
  let auth: AuthService;
  try {
    auth = ctx.platform.resolve(AuthService);
  } catch (error) {
    return unavailableRow(spec, `not yet available: AuthService cannot be resolved (${(error as Error).message})`);
  }
  const hasher = ctx.platform.resolve(PasswordHasher);
  const hash = await hasher.hash(PASSWORD);
  await withClient(ctx.db.ownerUrl, (c) =>
    c.query(`UPDATE users SET password_hash = $1, password_changed_at = now() WHERE id IN (SELECT user_id FROM memberships)`, [hash]),
  );
  const members = ctx.orgs * ctx.membersPerOrg;
  const emails = sampleIds(members, 5_000, 19).map(benchEmail);
  await auth.login(emails[0] ?? benchEmail(1), PASSWORD);
  const a = keyCycle(emails);
  ctx.log(`  ${spec.name}`);
  const result = await runInterleaved(
    async () => void (await auth.login(a(), PASSWORD)),
    async () => {
      if (!(await hasher.verify(PASSWORD, hash))) throw new Error('bench: verify failed');
    },
    { ...ctx.timing, concurrency: CONCURRENCY },
  );
  return measuredRow(spec, result);
}
