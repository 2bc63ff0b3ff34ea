import pg from 'pg';
import { createPool, sql, type DatabasePool } from 'slonik';
import { postgresTypeParsers } from '../../src/postgres/postgres-type-parsers.js';
import { createResultParserInterceptor } from '../../src/postgres/result-parser-interceptor.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { preparedStatement } from '../../src/postgres/prepared-statement.js';
import { pgTypeOverrides } from '../../src/postgres/pg-type-overrides.js';
import { CREDENTIALS_BY_EMAIL, UserRepository } from '../../src/postgres/repositories/user-repository.js';
import { z } from 'zod';
import type { BenchRow } from '../bench-result.js';
import { measuredRow } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { benchEmail } from '../bench-database.js';
import { runInterleaved, type Operation } from '../interleaved-runner.js';
import { PROFILE_ROW } from './profile-row-names.js';
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
  rows.push(...(await hotPathLayers(ctx, emails)));
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
  await compare(PROFILE_ROW.drizzle, 'Drizzle ORM 0.45 select().prepare()', pgSide(drizzlePrepared));
  // Like with like: UserRepository must read through the least-privilege function on the application role
  // (sql/0070), while the Drizzle row reads the table directly as the owner. This row prices that difference alone.
  await compare(
    PROFILE_ROW.leastPrivilege,
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

/**
 * UserRepository.findCredentialsByEmail one layer at a time, all on the application role through the same
 * function and the same 27 columns (CREDENTIALS_BY_EMAIL): the repository against PostgresConnection.preparedOne
 * with a schema that accepts anything (what input parsing, the access wrapper and row validation cost), and that
 * against raw pg on a pool of the same size and type parsers (what the hot-path pool's bound and idle check cost).
 */
async function hotPathLayers(ctx: BenchContext, emails: readonly string[]): Promise<BenchRow[]> {
  const HOT_POOL = 5;
  const repository = ctx.platform.resolve(UserRepository);
  const connection = ctx.platform.resolve(PostgresConnection);
  const unvalidated = preparedStatement('bench_credentials_unvalidated', CREDENTIALS_BY_EMAIL.text, z.unknown());
  const pool = new pg.Pool({ connectionString: ctx.db.appUrl, max: HOT_POOL, types: pgTypeOverrides });
  const rows: BenchRow[] = [];
  const options = { ...ctx.timing, concurrency: HOT_POOL };
  try {
    {
      const a = keyCycle(emails);
      const b = keyCycle(emails);
      ctx.log('  profile: hot path, input and row validation');
      const result = await runInterleaved(
        async () => void (await repository.findCredentialsByEmail(a())),
        async () => void (await connection.preparedOne(unvalidated, [b()])),
        options,
      );
      rows.push(
        measuredRow(
          {
            name: PROFILE_ROW.hotPathValidation,
            unit: 'lookup',
            oursLabel: 'UserRepository.findCredentialsByEmail (access wrapper, email parsed, the 27-column row validated and mapped by zod)',
            baselineLabel: 'PostgresConnection.preparedOne with the same statement text and a schema that accepts anything',
            backend: ctx.backends.postgres,
          },
          result,
        ),
      );
    }
    {
      const a = keyCycle(emails);
      const b = keyCycle(emails);
      ctx.log('  profile: hot path, pool bound and idle check');
      const result = await runInterleaved(
        async () => void (await connection.preparedOne(unvalidated, [a()])),
        async () => void (await pool.query({ name: 'bench_credentials_raw_app', text: CREDENTIALS_BY_EMAIL.text, values: [b()] })),
        options,
      );
      rows.push(
        measuredRow(
          {
            name: PROFILE_ROW.hotPathPool,
            unit: 'lookup',
            oursLabel: 'PostgresConnection.preparedOne, no validation (the bound of PG_QUERY_TIMEOUT_MS, the idle check, error mapping)',
            baselineLabel: 'raw pg pool of the same size and type parsers, application role, the same named statement',
            backend: ctx.backends.postgres,
          },
          result,
        ),
      );
    }
  } finally {
    await pool.end();
  }
  return rows;
}
