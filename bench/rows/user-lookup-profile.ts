import pg from 'pg';
import { createPool, sql, type DatabasePool } from 'slonik';
import { postgresTypeParsers } from '../../src/postgres/postgres-type-parsers.js';
import { createResultParserInterceptor } from '../../src/postgres/result-parser-interceptor.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { benchEmail } from '../bench-database.js';
import { runInterleaved, type Operation } from '../interleaved-runner.js';
import { USER_BY_EMAIL_VIA_FUNCTION_SQL, benchUserRow, drizzlePrepared, rawPgNamed, rawPgUnnamed } from './user-lookup-queries.js';

const POOL_SIZE = 8;

/** The lookup every Slonik layer runs, written once, through the tag of that layer (`sql.unsafe`, `sql.type(…)`, `sql.prepared(…)`). */
function userByEmail<T>(tag: (parts: TemplateStringsArray, ...values: [string]) => T, email: string): T {
  return tag`SELECT id, email, display_name, password_hash, status, email_verified_at, failed_login_count, locked_until, created_at, updated_at FROM users WHERE email = ${email}`;
}

/**
 * Decomposes the cost of a Slonik lookup against raw `pg` with a named
 * prepared statement, one layer at a time, on private pools of equal size:
 * statement preparation, zod validation, Slonik's per-query machinery, our
 * interceptor and type parsers, and Slonik's own `sql.prepared`.
 */
export async function userLookupProfile(ctx: BenchContext): Promise<BenchRow[]> {
  const url = ctx.db.ownerUrl;
  const emails = sampleIds(ctx.largeUsers, 20_000, 7).map(benchEmail);
  const backend = ctx.backends.postgres;
  const rows: BenchRow[] = [];
  /** Opens one pool for `ours` and one for the baseline, measures, and closes both (connections are scarce). */
  const compare = async (name: string, oursLabel: string, open: () => Promise<Side>, note?: string) => {
    const basePool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
    const ours = await open();
    try {
      const baseline = rawPgNamed(basePool);
      const nextOurs = keyCycle(emails);
      const nextBase = keyCycle(emails);
      const a: Operation = async () => void (await ours.lookup(nextOurs()));
      const b: Operation = async () => void (await baseline(nextBase()));
      ctx.log(`  ${name}`);
      const result = await runInterleaved(a, b, { ...ctx.timing, concurrency: POOL_SIZE });
      rows.push(
        measuredRow({ name, unit: 'lookup', oursLabel, baselineLabel: 'raw pg, named prepared statement', backend, ...(note ? { note } : {}) }, result),
      );
    } finally {
      await Promise.allSettled([basePool.end(), ours.close()]);
    }
  };
  const pgSide =
    (make: (pool: pg.Pool) => (email: string) => Promise<unknown>, connectionString = url) =>
    async (): Promise<Side> => {
      const pool = new pg.Pool({ connectionString, max: POOL_SIZE });
      return { lookup: make(pool), close: () => pool.end() };
    };
  const slonikSide =
    (options: { configured: boolean; keepSessionState: boolean }, make: (pool: DatabasePool) => (email: string) => Promise<unknown>) =>
    async (): Promise<Side> => {
      const pool = await createPool(url, {
        maxPoolSize: POOL_SIZE,
        captureStackTrace: false,
        ...(options.configured ? { interceptors: [createResultParserInterceptor()], typeParsers: postgresTypeParsers } : {}),
        // Slonik's default runs `DISCARD ALL` on every release: one more round trip per query, and it drops prepared statements.
        ...(options.keepSessionState ? { resetConnection: async () => undefined } : {}),
      });
      return { lookup: make(pool), close: () => pool.end() };
    };
  await compare('profile: unnamed statement', 'raw pg, unnamed statement', pgSide(rawPgUnnamed));
  await compare(
    'profile: zod parse of the row',
    'raw pg named + zod parse',
    pgSide((pool) => {
      const named = rawPgNamed(pool);
      return async (email) => benchUserRow.parse(await named(email));
    }),
  );
  await compare(
    'profile: Slonik, no interceptors',
    'Slonik 49 maybeOne, sql.unsafe, default type parsers',
    slonikSide({ configured: false, keepSessionState: false }, (pool) => (email) => pool.maybeOne(userByEmail(sql.unsafe, email))),
  );
  await compare(
    'profile: Slonik as configured',
    'Slonik 49 + result-parser interceptor + type parsers, sql.type (PostgresConnection today)',
    slonikSide({ configured: true, keepSessionState: false }, (pool) => (email) => pool.maybeOne(userByEmail(sql.type(benchUserRow), email))),
  );
  await compare(
    'profile: Slonik as configured, no DISCARD ALL',
    'as configured + resetConnection no-op, sql.type',
    slonikSide({ configured: true, keepSessionState: true }, (pool) => (email) => pool.maybeOne(userByEmail(sql.type(benchUserRow), email))),
  );
  await compare(
    'profile: proposed fast path',
    'as configured + resetConnection no-op + sql.prepared(name, schema)',
    slonikSide(
      { configured: true, keepSessionState: true },
      (pool) => (email) => pool.maybeOne(userByEmail(sql.prepared('bench_slonik_user_by_email', benchUserRow), email)),
    ),
    'sql.prepared with the default reset fails ("prepared statement … does not exist"): DISCARD ALL deallocates it while pg still believes it is parsed',
  );
  await compare('profile: Drizzle .prepare()', 'Drizzle ORM 0.45 select().prepare()', pgSide(drizzlePrepared));
  // Like with like: UserRepository must read through the least-privilege function on the application role
  // (sql/0070), while the Drizzle row reads the table directly as the owner. This row prices that difference alone.
  await compare(
    'profile: least-privilege lookup (platform_auth function, application role)',
    'raw pg named, the same columns FROM platform_auth.user_credentials($1) as the application role',
    pgSide(
      (pool) => async (email) => (await pool.query({ name: 'bench_user_credentials_fn', text: USER_BY_EMAIL_VIA_FUNCTION_SQL, values: [email] })).rows[0],
      ctx.db.appUrl,
    ),
    'the baseline reads the users table directly as the owner, as the Drizzle row does',
  );
  return rows;
}

interface Side {
  readonly lookup: (email: string) => Promise<unknown>;
  close(): Promise<void>;
}
