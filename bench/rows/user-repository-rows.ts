import { eq, sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { boolean, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { CREDENTIALS_BY_EMAIL as CREDENTIALS_BY_EMAIL_STATEMENT, UserRepository } from '../../src/postgres/repositories/user-repository.js';
import type { Platform } from '../../src/platform.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow, type RowSpec } from '../bench-row.js';
import { keyCycle, sampleIds, type BenchContext } from '../bench-context.js';
import { benchEmail } from '../bench-database.js';
import { runInterleaved } from '../interleaved-runner.js';
import type { UserLookup } from './growth-rows.js';
import { PROFILE_ROW } from './profile-row-names.js';

/** PostgresConnection's hot-path pool has min(5, PG_POOL_SIZE) connections: baselines get the same, and as many callers. */
const POOL_SIZE = 5;

/** The exact statement UserRepository.findCredentialsByEmail sends (its text, imported: a copy went stale when 0113 added six columns), for the raw pg baseline. */
const CREDENTIALS_BY_EMAIL = CREDENTIALS_BY_EMAIL_STATEMENT.text;

/** Drizzle's view of the same 27 columns. */
const users = pgTable('users', {
  id: uuid('id').primaryKey(),
  email: text('email').notNull(),
  displayName: text('display_name'),
  username: text('username'),
  firstName: text('first_name'),
  lastName: text('last_name'),
  avatarUrl: text('avatar_url'),
  timezone: text('timezone'),
  language: text('language'),
  status: text('status').notNull(),
  emailVerifiedAt: timestamp('email_verified_at', { withTimezone: true }),
  failedLoginCount: integer('failed_login_count').notNull(),
  lockedUntil: timestamp('locked_until', { withTimezone: true }),
  mustChangePassword: boolean('must_change_password').notNull(),
  lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
  lastLoginIp: text('last_login_ip'),
  termsVersion: text('terms_version'),
  termsAcceptedAt: timestamp('terms_accepted_at', { withTimezone: true }),
  privacyVersion: text('privacy_version'),
  privacyAcceptedAt: timestamp('privacy_accepted_at', { withTimezone: true }),
  marketingConsentVersion: text('marketing_consent_version'),
  marketingConsentAt: timestamp('marketing_consent_at', { withTimezone: true }),
  ageConfirmedAt: timestamp('age_confirmed_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  deletedAt: timestamp('deleted_at', { withTimezone: true }),
  passwordHash: text('password_hash'),
});

/** Growth row lookup through the repository. */
export const repositoryUserLookup: UserLookup = (platform: Platform) => {
  const repository = platform.resolve(UserRepository);
  return (email) => repository.findCredentialsByEmail(email);
};

/** Rows 1 and 2: UserRepository.findCredentialsByEmail vs raw pg (named prepared) and vs Drizzle `.prepare()`. */
export async function userRepositoryRows(ctx: BenchContext): Promise<BenchRow[]> {
  const repository = ctx.platform.resolve(UserRepository);
  const emails = sampleIds(ctx.largeUsers, 20_000, 17).map(benchEmail);
  const rows: BenchRow[] = [];
  const note = `${ctx.largeUsers.toLocaleString('en')} users; ${POOL_SIZE} connections and ${POOL_SIZE} callers per side (the hot-path pool's size)`;
  const ours = async (email: string) => {
    if (!(await repository.findCredentialsByEmail(email))) throw new Error('bench: user not found (repository)');
  };
  const pool = new pg.Pool({ connectionString: ctx.db.ownerUrl, max: POOL_SIZE });
  try {
    const rawSpec: RowSpec = {
      name: 'user by email vs raw pg',
      unit: 'lookup',
      oursLabel: 'UserRepository.findCredentialsByEmail (hot path: preparedOne, raw pg named statement + zod)',
      baselineLabel: 'raw pg, the same SQL (through platform_auth.user_credentials, as the owner) as a named prepared statement',
      goal: '≥ 0.95×',
      goalMinRatio: 0.95,
      backend: ctx.backends.postgres,
      note,
      shortfall: {
        reason:
          'the baseline sends the same statement (through platform_auth.user_credentials), so the gap is our hot-path layers: input and row validation by zod, then the pool bound and idle check',
        profiles: [PROFILE_ROW.hotPathValidation, PROFILE_ROW.hotPathPool],
      },
    };
    const a = keyCycle(emails);
    const b = keyCycle(emails);
    ctx.log(`  ${rawSpec.name}`);
    rows.push(
      measuredRow(
        rawSpec,
        await runInterleaved(
          () => ours(a()),
          async () => {
            const r = await pool.query({ name: 'bench_credentials_by_email', text: CREDENTIALS_BY_EMAIL, values: [b()] });
            if (r.rows.length !== 1) throw new Error('bench: user not found (raw pg)');
          },
          { ...ctx.timing, concurrency: POOL_SIZE },
        ),
      ),
    );
    const db = drizzle({ client: pool });
    const statement = db
      .select()
      .from(users)
      .where(eq(users.email, dsql.placeholder('email')))
      .prepare('bench_drizzle_credentials_by_email');
    const drizzleSpec: RowSpec = {
      name: 'user by email vs Drizzle',
      unit: 'lookup',
      oursLabel: 'UserRepository.findCredentialsByEmail (hot path: preparedOne, raw pg named statement + zod)',
      baselineLabel: 'Drizzle ORM 0.45 select().where(eq).prepare() on the same 27 columns, reading the users table directly as the owner',
      goal: '≥ 1.05×',
      goalMinRatio: 1.05,
      backend: ctx.backends.postgres,
      note,
      shortfall: {
        reason:
          'Drizzle reads the users table directly as the owner; ours calls the least-privilege function platform_auth.user_credentials on the application role (issue 15), whose price against an owner read is the least-privilege profile, while Drizzle itself runs at about raw pg speed: not reachable while the lookup stays least-privilege',
        profiles: [PROFILE_ROW.leastPrivilege, PROFILE_ROW.drizzle, PROFILE_ROW.hotPathValidation],
      },
    };
    const c = keyCycle(emails);
    const d = keyCycle(emails);
    ctx.log(`  ${drizzleSpec.name}`);
    rows.push(
      measuredRow(
        drizzleSpec,
        await runInterleaved(
          () => ours(c()),
          async () => {
            if ((await statement.execute({ email: d() })).length !== 1) throw new Error('bench: user not found (drizzle)');
          },
          { ...ctx.timing, concurrency: POOL_SIZE },
        ),
      ),
    );
  } finally {
    await pool.end();
  }
  return rows;
}
