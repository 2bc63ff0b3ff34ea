import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../../src/config.js';
import { ConfigError } from '../../../src/errors.js';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { AccountRepository } from '../../../src/postgres/repositories/account-repository.js';
import { OrganizationRepository } from '../../../src/postgres/repositories/organization-repository.js';
import { SessionRepository } from '../../../src/postgres/repositories/session-repository.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { withScope } from '../../../src/postgres/with-scope.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

/** The catalog query of docs/security.md, "Least privilege at run time". */
function auditQuery(): string {
  const doc = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');
  return /## Least privilege at run time[\s\S]*?```sql\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
}

/**
 * The pre-tenant paths on the application role alone. In the `postgres-18` project the server
 * authenticates by password (embedded PostgreSQL), so this also proves DATABASE_APP_URL's
 * credentials are the only ones the process holds and need.
 */
describe.skipIf(!requireStores('postgres'))('application role alone (no DATABASE_URL)', () => {
  let platform: Platform;
  test.beforeAll(async ({ testEnv: t }) => {
    const { DATABASE_URL: _owner, ...env } = t.env;
    platform = createPlatform(loadConfig(env), { stores: ['postgres'] });
    await platform.start();
  });
  test.afterAll(async () => {
    await platform?.stop();
  });

  test('signs up, finds credentials case-insensitively, creates the organization and a session, and reads it back by id and jti', async ({ testEnv: t }) => {
    const users = platform.resolve(UserRepository);
    const user = await users.create({ email: `LP-${t.id}@Example.test`, passwordHash: `$2b$04$${'a'.repeat(53)}`, status: 'active', ageConfirmed: true });
    const credentials = await users.findCredentialsByEmail(`lp-${t.id}@example.TEST`);
    expect(credentials).toMatchObject({ user: { id: user.id }, passwordHash: `$2b$04$${'a'.repeat(53)}` });
    // The function behind the hot-path read by id blanks the hash (only sign-in by email returns it).
    expect(await users.getById(user.id)).toMatchObject({ id: user.id });
    const app = platform.resolve(PostgresConnection).appPool;
    expect(
      await app.oneFirst(sql.type(z.object({ password_hash: z.string().nullable() }))`SELECT password_hash FROM platform_auth.user_by_id(${user.id})`),
    ).toBeNull();
    // And the application role cannot read the table around the functions: no scope, no rows.
    expect(await app.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM users`)).toBe(0);
    await expect(users.create({ email: `lp-${t.id}@example.test`, status: 'active' })).rejects.toMatchObject({ constraint: 'users_email_key' });
    // No DELETE in the user's own scope (sql/0118): a user row is deleted only by erasure, in admin scope.
    const deleted = await withScope(app, { userId: user.id }, (tx) =>
      tx.query(sql.type(z.object({ id: z.uuid() }))`DELETE FROM users WHERE id = ${user.id} RETURNING id`),
    );
    expect(deleted.rowCount).toBe(0);

    const organization = await platform
      .resolve(OrganizationRepository)
      .create({ name: 'LP', slug: `lp-${t.id.replace(/_/g, '-')}`.slice(0, 40), ownerUserId: user.id });
    expect((await platform.resolve(AccountRepository).listMemberships(user.id)).map((m) => m.organizationId)).toEqual([organization.id]);
    const ctx = createTenantContext({ organizationId: organization.id, userId: user.id, role: 'owner', scopes: [] });
    const sessions = platform.resolve(SessionRepository);
    const session = await sessions.create(ctx, { accessTokenJti: `jti-${t.id}` });
    expect(await sessions.get(session.id)).toMatchObject({ id: session.id, userId: user.id });
    expect(await sessions.getByJti(`jti-${t.id}`)).toMatchObject({ id: session.id });
    expect((await users.recordFailedLogin(user.id, { threshold: 5, lockSeconds: 60 }))?.failedLoginCount).toBe(1);
    expect(await users.recordSuccessfulLogin(user.id, '192.0.2.1')).toBe(true);
    expect((await sessions.revokeAllForUser(user.id, 'test')).map((s) => s.id)).toEqual([session.id]);
  });

  test('has no owner pool: a ConfigError names DATABASE_URL', () => {
    expect(() => platform.resolve(PostgresConnection).ownerPool).toThrow(ConfigError);
  });
});

/**
 * PostgreSQL manual, CREATE FUNCTION, "Writing SECURITY DEFINER Functions Safely":
 * fix search_path (pg_temp last), revoke EXECUTE from PUBLIC; the owner must not be
 * a superuser or bypass row-level security, or the function grants more than it names.
 */
describe.skipIf(!requireStores('postgres'))('platform_auth functions', () => {
  let db: pg.Client;
  test.beforeAll(async ({ testEnv: t }) => {
    db = new pg.Client({ connectionString: t.databaseUrl });
    await db.connect();
  });
  test.afterAll(async () => {
    await db?.end();
  });

  test('are SECURITY DEFINER, with a fixed search_path, owned by a NOLOGIN non-superuser without BYPASSRLS, not executable by PUBLIC', async () => {
    const { rows: functions } = await db.query<{ name: string; owner: string }>(`
      SELECT p.proname AS name, p.proowner::regrole::text AS owner FROM pg_proc p WHERE p.pronamespace = 'platform_auth'::regnamespace`);
    expect(functions.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        'user_credentials',
        'user_by_id',
        'session_by_id',
        'session_by_jti',
        'api_key_by_prefix',
        'refresh_token_owner',
        'verification_token',
        'mfa_challenge',
        'identity_by_provider',
      ]),
    );
    expect(new Set(functions.map((f) => f.owner))).toEqual(new Set(['platform_auth']));
    // The audit query docs/security.md shows: every function breaking a rule of the manual's section.
    const query = auditQuery();
    expect(query).toContain('prosecdef');
    expect((await db.query(query)).rows).toEqual([]);
  });

  test('the audit query catches a function that breaks the rules', async () => {
    // A SECURITY DEFINER function without a fixed search_path, executable by PUBLIC (the default): must be reported.
    await db.query(`CREATE FUNCTION platform_auth.unsafe_probe() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`);
    try {
      const query = auditQuery();
      expect((await db.query<{ function: string }>(query)).rows.map((r) => r.function)).toEqual(['platform_auth.unsafe_probe()']);
    } finally {
      await db.query(`DROP FUNCTION platform_auth.unsafe_probe()`);
    }
  });

  test('cannot be called by a role other than platform_app', async ({ testEnv: t }) => {
    const role = `lp_probe_${t.id}`.slice(0, 60);
    await db.query(`CREATE ROLE ${role} NOLOGIN`);
    try {
      await db.query('BEGIN');
      await db.query(`GRANT USAGE ON SCHEMA platform_auth TO ${role}`);
      await db.query(`SET LOCAL ROLE ${role}`);
      await expect(db.query(`SELECT * FROM platform_auth.user_credentials('x@example.test')`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await db.query('ROLLBACK');
      await db.query(`DROP ROLE ${role}`);
    }
  });

  test('leaves platform_app without superuser, BYPASSRLS or ownership of anything in the database', async () => {
    const { rows } = await db.query<{ super: boolean; bypass: boolean; owned: number }>(`
      SELECT r.rolsuper AS super, r.rolbypassrls AS bypass,
             (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) + (SELECT count(*)::int FROM pg_proc p WHERE p.proowner = r.oid) AS owned
      FROM pg_roles r WHERE r.rolname = 'platform_app'`);
    expect(rows).toEqual([{ super: false, bypass: false, owned: 0 }]);
  });
});
