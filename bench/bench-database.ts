import { join } from 'node:path';
import { Migrator } from '../src/postgres/migrator.js';
import { databaseUrl, withAdmin } from '../src/testing/postgres-admin.js';
import { repoRoot } from './repo-root.js';

/** Owner and application-role URLs of one benchmark database. */
export interface BenchDatabase {
  readonly name: string;
  readonly ownerUrl: string;
  readonly appUrl: string;
}

export { databaseUrl, withAdmin } from '../src/testing/postgres-admin.js';

const DB_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Creates a database, applies the package's migrations (src/postgres/migrator.ts) and returns its URLs. */
export async function createBenchDatabase(adminUrl: string, name: string): Promise<BenchDatabase> {
  if (!DB_NAME.test(name)) throw new Error(`bench: bad database name ${name}`);
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const ownerUrl = databaseUrl(adminUrl, name);
  await using migrator = new Migrator({ url: ownerUrl, directory: join(repoRoot(), 'sql') });
  await migrator.up();
  return { name, ownerUrl, appUrl: databaseUrl(adminUrl, name, 'platform_app') };
}

export async function dropBenchDatabase(adminUrl: string, name: string): Promise<void> {
  if (!DB_NAME.test(name)) return;
  await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** Drops benchmark databases left behind by runs that were killed. */
export async function dropStaleBenchDatabases(adminUrl: string, prefix: string): Promise<string[]> {
  return withAdmin(adminUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${prefix}%`]);
    for (const { datname } of rows) {
      if (DB_NAME.test(datname)) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
    return rows.map((r) => r.datname);
  });
}

/** Email of the n-th seeded user (1-based), shared by the seeding SQL and the lookups. */
export function benchEmail(n: number): string {
  return `user${n}@bench.example`;
}

/**
 * Adds users `from..to` (inclusive) in one INSERT … SELECT generate_series,
 * the fastest way to get a million rows with the real indexes and constraints.
 */
export async function seedUsers(ownerUrl: string, from: number, to: number): Promise<void> {
  await withAdmin(ownerUrl, async (c) => {
    await c.query(`SET synchronous_commit = off`);
    await c.query(
      `INSERT INTO users (email, display_name, password_hash, status, email_verified_at)
       SELECT 'user' || g || '@bench.example', 'Bench User ' || g,
              '$2b$04$abcdefghijklmnopqrstuuK0S2W2y0b7A8tq0n7m1ZVr8dVnE5i4y', 'active', now()
       FROM generate_series($1::int, $2::int) AS g`,
      [from, to],
    );
    await c.query(`VACUUM ANALYZE users`);
  });
}

/**
 * `orgs` organizations with `membersPerOrg` members each, drawn from the first
 * `orgs * membersPerOrg` users; user k*membersPerOrg+1 owns organization k+1.
 */
export async function seedTenants(ownerUrl: string, orgs: number, membersPerOrg: number): Promise<void> {
  await withAdmin(ownerUrl, async (c) => {
    await c.query(`SET synchronous_commit = off`);
    await c.query(
      `INSERT INTO organizations (name, slug, tier)
       SELECT 'Bench Org ' || g, 'bench-org-' || g, 'pro' FROM generate_series(1, $1::int) AS g`,
      [orgs],
    );
    await c.query(
      `INSERT INTO memberships (organization_id, user_id, role)
       SELECT o.id, u.id, CASE WHEN i = 1 THEN 'owner' ELSE 'member' END::membership_role
       FROM (SELECT id, substr(slug, 11)::int AS k FROM organizations WHERE slug LIKE 'bench-org-%') AS o
       CROSS JOIN generate_series(1, $1::int) AS i
       JOIN users u ON u.email = ('user' || ((o.k - 1) * $1::int + i) || '@bench.example')::citext`,
      [membersPerOrg],
    );
    await c.query(`VACUUM ANALYZE organizations`);
    await c.query(`VACUUM ANALYZE memberships`);
  });
}
