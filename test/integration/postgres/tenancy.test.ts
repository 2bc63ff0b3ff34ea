import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createPool, sql, type DatabasePool, type Interceptor, type Query } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { ConflictError, PlatformError, TenantAccessError, ValidationError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { preparedStatement } from '../../../src/postgres/prepared-statement.js';
import { createResultParserInterceptor } from '../../../src/postgres/result-parser-interceptor.js';
import { withTenant } from '../../../src/postgres/with-tenant.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const countRow = z.object({ n: z.number() });
const nameRow = z.object({ name: z.string() });

describe.skipIf(!requireStores('postgres'))('tenancy in PostgreSQL (row-level security as platform_app)', () => {
  let postgres: PostgresConnection;
  let owner: DatabasePool;
  let app: DatabasePool;
  const orgA = randomUUID();
  const orgB = randomUUID();
  const userA = randomUUID();
  const userB = randomUUID();
  const userA2 = randomUUID();
  let ctxA: TenantContext;
  let ctxB: TenantContext;

  test.beforeAll(async ({ testEnv: t }) => {
    postgres = new PostgresConnection(t.config, createLogger('silent'));
    await postgres.start();
    owner = postgres.ownerPool;
    app = postgres.appPool;
    // Seeded as the owner (a superuser here, so row-level security does not apply to it).
    await owner.query(sql.unsafe`
      INSERT INTO organizations (id, name, slug, credits) VALUES (${orgA}, 'Org A', ${`a-${orgA.slice(0, 8)}`}, 10), (${orgB}, 'Org B', ${`b-${orgB.slice(0, 8)}`}, 10)`);
    await owner.query(sql.unsafe`
      INSERT INTO users (id, email, status) VALUES
        (${userA}, ${`a-${userA}@example.test`}, 'active'),
        (${userB}, ${`b-${userB}@example.test`}, 'active'),
        (${userA2}, ${`a2-${userA2}@example.test`}, 'active')`);
    await owner.query(sql.unsafe`
      INSERT INTO memberships (organization_id, user_id, role) VALUES
        (${orgA}, ${userA}, 'owner'), (${orgA}, ${userA2}, 'owner'), (${orgB}, ${userB}, 'owner')`);
    await owner.query(sql.unsafe`
      INSERT INTO personas (organization_id, name) VALUES (${orgA}, 'alpha'), (${orgA}, 'beta'), (${orgB}, 'gamma')`);
    ctxA = createTenantContext({ organizationId: orgA, userId: userA, role: 'owner', scopes: [] });
    ctxB = createTenantContext({ organizationId: orgB, userId: userB, role: 'owner', scopes: [] });
  });

  test.afterAll(async () => {
    await postgres?.stop();
  });

  test('connects as platform_app: LOGIN, no SUPERUSER, no BYPASSRLS, owns nothing', async () => {
    const role = await app.one(
      sql.type(z.object({ current_user: z.string(), rolsuper: z.boolean(), rolbypassrls: z.boolean(), rolcanlogin: z.boolean(), owned: z.number() }))`
        SELECT current_user, r.rolsuper, r.rolbypassrls, r.rolcanlogin,
               (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)::int AS owned
        FROM pg_roles r WHERE r.rolname = current_user`,
    );
    expect(role).toEqual({ current_user: 'platform_app', rolsuper: false, rolbypassrls: false, rolcanlogin: true, owned: 0 });
  });

  test('with no tenant set, every tenant and global table reads as empty', async () => {
    for (const table of ['personas', 'memberships', 'organizations', 'users', 'sessions', 'api_keys', 'audit_log', 'identities']) {
      const n = await app.oneFirst(sql.type(countRow)`SELECT count(*)::int AS n FROM ${sql.identifier([table])}`);
      expect({ table, n }).toEqual({ table, n: 0 });
    }
    // The rows are there: the owner sees them.
    expect(await owner.oneFirst(sql.type(countRow)`SELECT count(*)::int AS n FROM personas`)).toBe(3);
  });

  test('tenant A sees only its rows and cannot read, change or create tenant B rows', async () => {
    const namesA = await withTenant(app, ctxA, (tx) => tx.manyFirst(sql.type(nameRow)`SELECT name FROM personas ORDER BY name`));
    expect(namesA).toEqual(['alpha', 'beta']);
    const namesB = await withTenant(app, ctxB, (tx) => tx.manyFirst(sql.type(nameRow)`SELECT name FROM personas ORDER BY name`));
    expect(namesB).toEqual(['gamma']);

    const changed = await withTenant(app, ctxA, (tx) => tx.query(sql.unsafe`UPDATE personas SET name = 'stolen' WHERE organization_id = ${orgB}`));
    expect(changed.rowCount).toBe(0);
    const deleted = await withTenant(app, ctxA, (tx) => tx.query(sql.unsafe`DELETE FROM personas WHERE organization_id = ${orgB}`));
    expect(deleted.rowCount).toBe(0);

    const insert = withTenant(app, ctxA, (tx) => tx.query(sql.unsafe`INSERT INTO personas (organization_id, name) VALUES (${orgB}, 'planted')`));
    await expect(insert).rejects.toBeInstanceOf(TenantAccessError);
    expect(await owner.manyFirst(sql.type(nameRow)`SELECT name FROM personas WHERE organization_id = ${orgB}`)).toEqual(['gamma']);

    // Global tables: A sees its own organization and its members, not B's.
    const orgs = await withTenant(app, ctxA, (tx) => tx.manyFirst(sql.type(nameRow)`SELECT name FROM organizations ORDER BY name`));
    expect(orgs).toEqual(['Org A']);
    const emails = await withTenant(app, ctxA, (tx) => tx.manyFirst(sql.type(z.object({ email: z.string() }))`SELECT email FROM users ORDER BY email`));
    expect(emails).toHaveLength(2);
    expect(emails.some((e) => e.startsWith('b-'))).toBe(false);
  });

  test('never carries the tenant into the next transaction on a pooled connection', async ({ testEnv: t }) => {
    // In the pgbouncer project the URL is PgBouncer's (transaction pooling): the pool is then built as the package
    // builds it there (no startup timeouts, unnamed statements), and the same server backend must not carry the tenant either.
    const pooled = t.config.postgres.pooler === 'transaction';
    const single = await createPool(t.config.postgres.appUrl, {
      maxPoolSize: 1,
      interceptors: [
        ...(pooled ? [{ name: 'unnamed', transformQuery: (_: unknown, q: Query) => ({ ...q, name: undefined }) } as Interceptor] : []),
        createResultParserInterceptor(),
      ],
      ...(pooled ? ({ statementTimeout: 'DISABLE_TIMEOUT', idleInTransactionSessionTimeout: 'DISABLE_TIMEOUT' } as const) : {}),
    });
    try {
      const pid = sql.type(z.object({ pid: z.number() }))`SELECT pg_backend_pid() AS pid`;
      const inside = await withTenant(single, ctxA, async (tx) => ({
        pid: await tx.oneFirst(pid),
        n: await tx.oneFirst(sql.type(countRow)`SELECT count(*)::int AS n FROM personas`),
      }));
      expect(inside.n).toBe(2);
      const after = await single.transaction(async (tx) => ({
        pid: await tx.oneFirst(pid),
        setting: await tx.oneFirst(sql.type(z.object({ s: z.string().nullable() }))`SELECT current_setting('platform.organization_id', true) AS s`),
        n: await tx.oneFirst(sql.type(countRow)`SELECT count(*)::int AS n FROM personas`),
      }));
      expect(after.pid).toBe(inside.pid);
      expect(after.setting ?? '').toBe('');
      expect(after.n).toBe(0);
    } finally {
      await single.end();
    }
  });

  describe('tenantQuery: settings and read in one pipeline, one implicit transaction', () => {
    // PostgreSQL manual, protocol "Extended Query" / "Pipelining": messages up to a Sync run as one implicit
    // transaction; Sync ends it; after an error the server skips everything up to the Sync.
    const names = preparedStatement('test_tenant_persona_names', 'SELECT name FROM personas ORDER BY name', nameRow);
    const probeRow = z.object({ pid: z.number(), s: z.string().nullable(), n: z.number() });
    const probe = preparedStatement(
      'test_tenant_probe',
      `SELECT pg_backend_pid() AS pid, current_setting('platform.organization_id', true) AS s, (SELECT count(*)::int FROM personas) AS n`,
      probeRow,
    );
    const failing = preparedStatement('test_tenant_failing', 'SELECT name FROM personas WHERE 1 / (length(name) - length(name)) = 1', nameRow);
    let single: PostgresConnection;

    test.beforeAll(async ({ testEnv: t }) => {
      // One hot-path connection (min(5, PG_POOL_SIZE)), so consecutive calls provably share it.
      single = new PostgresConnection({ ...t.config, postgres: { ...t.config.postgres, poolSize: 1 } }, createLogger('silent'));
      await single.start();
    });

    test.afterAll(async () => {
      await single?.stop();
    });

    test('confines the read to the tenant through row-level security', async () => {
      expect((await postgres.tenantQuery(ctxA, names, [])).map((r) => r.name)).toEqual(['alpha', 'beta']);
      expect((await postgres.tenantQuery(ctxB, names, [])).map((r) => r.name)).toEqual(['gamma']);
    });

    test("parses rows with the hot pool's type parsers (int8 → number, timestamptz → Date), as preparedOne does", async () => {
      // The schema refuses pg's defaults (int8 as a string, and a string timestamp): the submittable must bring the pool's parsers.
      const typed = preparedStatement(
        'test_tenant_typed',
        'SELECT count(*) AS n, max(created_at) AS at FROM personas',
        z.object({ n: z.number(), at: z.date() }),
      );
      const [row] = await postgres.tenantQuery(ctxA, typed, []);
      expect(row?.n).toBe(2);
      expect(row?.at).toBeInstanceOf(Date);
    });

    test('a row its schema refuses is RESULT_INVALID naming the column, through tenantQuery and preparedOne alike', async () => {
      // Rows go through the statement's compiled schema (z.compile); a refused row still reports the schema's issue.
      const misdeclared = preparedStatement('test_tenant_misdeclared', `SELECT 'alpha' AS name, 42 AS id`, z.object({ name: z.string(), id: z.uuid() }));
      for (const read of [() => postgres.tenantQuery(ctxA, misdeclared, []), () => postgres.preparedOne(misdeclared, [])]) {
        const error = await read().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PlatformError);
        expect((error as PlatformError).code).toBe('RESULT_INVALID');
        expect((error as PlatformError).message).toMatch(/^Query result does not match its schema: id: /);
      }
    });

    test('a read on the same pool without the tenant setting sees nothing', async () => {
      // The same statement through preparedOne (no settings) on the application role: RLS leaves no rows.
      const bare = await single.preparedOne(probe, []);
      expect(bare).toMatchObject({ n: 0 });
      expect(bare?.s ?? '').toBe('');
    });

    test('never carries the tenant to the next statement on the same pooled connection', async () => {
      const [inside] = await single.tenantQuery(ctxA, probe, []);
      expect(inside).toMatchObject({ s: orgA, n: 2 });
      const after = await single.preparedOne(probe, []);
      expect(after?.pid).toBe(inside?.pid);
      expect(after?.s ?? '').toBe('');
      expect(after?.n).toBe(0);
      // Again after another tenant, the other way round.
      expect((await single.tenantQuery(ctxB, names, [])).map((r) => r.name)).toEqual(['gamma']);
      expect((await single.preparedOne(probe, []))?.n).toBe(0);
    });

    test('a failing read rolls back with its settings and leaves nothing behind', async () => {
      const error = await single.tenantQuery(ctxA, failing, []).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message)).toMatch(/division by zero/);
      const after = await single.preparedOne(probe, []);
      expect(after?.s ?? '').toBe('');
      expect(after?.n).toBe(0);
      expect((await single.tenantQuery(ctxA, names, [])).map((r) => r.name)).toEqual(['alpha', 'beta']);
    });
  });

  test('the app role cannot switch RLS off, alter tables, or become the owner', async () => {
    const attempts = [
      sql.unsafe`ALTER TABLE personas DISABLE ROW LEVEL SECURITY`,
      sql.unsafe`ALTER TABLE personas NO FORCE ROW LEVEL SECURITY`,
      sql.unsafe`ALTER TABLE personas ADD COLUMN x int`,
      sql.unsafe`DROP POLICY personas_tenant ON personas`,
      sql.unsafe`CREATE TABLE sneaky (id int)`,
      sql.unsafe`SET ROLE postgres`,
      sql.unsafe`TRUNCATE personas`,
    ];
    for (const attempt of attempts) {
      const error = await withTenant(app, ctxA, (tx) => tx.query(attempt)).catch((e: unknown) => e);
      expect({ sql: attempt.sql, error }).toEqual({ sql: attempt.sql, error: expect.any(TenantAccessError) });
    }
    // With row_security off, PostgreSQL refuses the query rather than skipping the policies.
    const off = withTenant(app, ctxA, async (tx) => {
      await tx.query(sql.unsafe`SET LOCAL row_security = off`);
      return tx.any(sql.unsafe`SELECT * FROM personas`);
    });
    await expect(off).rejects.toBeInstanceOf(TenantAccessError);
  });

  test('a TenantContext is validated and cannot be a plain object', () => {
    expect(() => createTenantContext({ organizationId: 'not-a-uuid', userId: userA, role: 'owner' })).toThrow(ValidationError);
    try {
      createTenantContext({ organizationId: orgA, userId: userA, role: 'root' as 'owner' });
    } catch (error) {
      expect((error as ValidationError).fields).toEqual(['role']);
    }
    const ctx = createTenantContext({ organizationId: orgA, userId: userA, role: 'viewer' });
    expect(Object.isFrozen(ctx)).toBe(true);
    expect(ctx.scopes).toEqual([]);
    // Compile-time proof, checked by `tsc --noEmit`: a literal lacks the brand.
    const plain = () =>
      // @ts-expect-error a plain object is not a TenantContext
      withTenant(app, { organizationId: orgA, userId: userA, role: 'owner', scopes: [] }, async () => 1);
    expect(typeof plain).toBe('function');
  });

  test('keeps at least one owner per organization, also under concurrent demotions', async () => {
    const demote = (userId: string) =>
      withTenant(app, ctxA, (tx) => tx.query(sql.unsafe`UPDATE memberships SET role = 'admin' WHERE organization_id = ${orgA} AND user_id = ${userId}`));
    const results = await Promise.allSettled([demote(userA), demote(userA2)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected?.reason).toBeInstanceOf(ConflictError);
    expect((rejected?.reason as ConflictError).constraint).toBe('memberships_last_owner');
    const owners = await owner.oneFirst(sql.type(countRow)`SELECT count(*)::int AS n FROM memberships WHERE organization_id = ${orgA} AND role = 'owner'`);
    expect(owners).toBe(1);

    const lastOwner = await owner.oneFirst(
      sql.type(z.object({ user_id: z.string() }))`SELECT user_id FROM memberships WHERE organization_id = ${orgA} AND role = 'owner'`,
    );
    await expect(
      withTenant(app, ctxA, (tx) => tx.query(sql.unsafe`DELETE FROM memberships WHERE user_id = ${lastOwner} AND organization_id = ${orgA}`)),
    ).rejects.toMatchObject({ constraint: 'memberships_last_owner' });
  });

  test('deleting an organization cascades past the owner rule; credits never go negative', async () => {
    const doomed = randomUUID();
    await owner.query(sql.unsafe`INSERT INTO organizations (id, name, slug) VALUES (${doomed}, 'Doomed', ${`d-${doomed.slice(0, 8)}`})`);
    await owner.query(sql.unsafe`INSERT INTO memberships (organization_id, user_id, role) VALUES (${doomed}, ${userB}, 'owner')`);
    await owner.query(sql.unsafe`DELETE FROM organizations WHERE id = ${doomed}`);
    expect(await owner.oneFirst(sql.type(countRow)`SELECT count(*)::int AS n FROM memberships WHERE organization_id = ${doomed}`)).toBe(0);

    const overdraw = withTenant(app, ctxB, (tx) => tx.query(sql.unsafe`UPDATE organizations SET credits = credits - 11 WHERE id = ${orgB}`));
    await expect(overdraw).rejects.toMatchObject({ constraint: 'organizations_credits_non_negative' });
  });

  test('audit_log partitions: ensure is idempotent, retention drops only whole old months', async () => {
    expect(await owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT audit_log_ensure_partitions(3) AS n`)).toBe(0);
    await owner.query(sql.unsafe`CREATE TABLE audit_log_p200001 PARTITION OF audit_log FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-02-01 00:00+00')`);
    await owner.query(sql.unsafe`INSERT INTO audit_log (created_at, event_type, organization_id) VALUES ('2000-01-15 00:00+00', 'auth.login', ${orgA})`);
    const dropped = await owner.manyFirst(sql.type(z.object({ name: z.string() }))`SELECT audit_log_drop_partitions(90) AS name`);
    expect(dropped).toEqual(['audit_log_p200001']);
    const left = await owner.oneFirst(sql.type(countRow)`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'audit_log'::regclass`);
    expect(left).toBeGreaterThanOrEqual(5);
    // The app role may write its own organization's events but not run maintenance.
    await withTenant(app, ctxA, (tx) =>
      tx.query(sql.unsafe`INSERT INTO audit_log (event_type, organization_id, risk_score) VALUES ('persona.created', ${orgA}, 10)`),
    );
    await expect(withTenant(app, ctxA, (tx) => tx.query(sql.unsafe`SELECT audit_log_drop_partitions(1)`))).rejects.toBeInstanceOf(TenantAccessError);
  });
});
