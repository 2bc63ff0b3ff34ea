import { eq, sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { z } from 'zod';

/** The columns every side of the user-by-email rows reads, so they move the same bytes. */
export const USER_COLUMNS = 'id, email, display_name, password_hash, status, email_verified_at, failed_login_count, locked_until, created_at, updated_at';

export const USER_BY_EMAIL_SQL = `SELECT ${USER_COLUMNS} FROM users WHERE email = $1`;

/** The same columns through the least-privilege function the application role must use (sql/0070). */
export const USER_BY_EMAIL_VIA_FUNCTION_SQL = `SELECT ${USER_COLUMNS} FROM platform_auth.user_credentials($1)`;

export const benchUserRow = z.object({
  id: z.string(),
  email: z.string(),
  display_name: z.string().nullable(),
  password_hash: z.string().nullable(),
  status: z.string(),
  email_verified_at: z.date().nullable(),
  failed_login_count: z.number(),
  locked_until: z.date().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});

/** Drizzle's view of the same table and columns. */
export const drizzleUsers = pgTable('users', {
  id: uuid('id').primaryKey(),
  email: text('email').notNull(),
  displayName: text('display_name'),
  passwordHash: text('password_hash'),
  status: text('status').notNull(),
  emailVerifiedAt: timestamp('email_verified_at', { withTimezone: true }),
  failedLoginCount: integer('failed_login_count').notNull(),
  lockedUntil: timestamp('locked_until', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});

/** Raw `pg` with a named prepared statement: parsed once per connection, then Bind/Execute only. */
export function rawPgNamed(pool: pg.Pool): (email: string) => Promise<unknown> {
  return async (email) => (await pool.query({ name: 'bench_user_by_email', text: USER_BY_EMAIL_SQL, values: [email] })).rows[0];
}

/** Raw `pg`, unnamed statement (Parse/Bind/Execute every time), as Slonik sends it. */
export function rawPgUnnamed(pool: pg.Pool): (email: string) => Promise<unknown> {
  return async (email) => (await pool.query(USER_BY_EMAIL_SQL, [email])).rows[0];
}

/** Drizzle ORM at its best: `.prepare()` (named statement) on node-postgres. */
export function drizzlePrepared(pool: pg.Pool): (email: string) => Promise<unknown> {
  const db = drizzle({ client: pool });
  const statement = db
    .select()
    .from(drizzleUsers)
    .where(eq(drizzleUsers.email, dsql.placeholder('email')))
    .prepare('bench_drizzle_user_by_email');
  return async (email) => (await statement.execute({ email }))[0];
}
