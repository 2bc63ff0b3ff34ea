import 'reflect-metadata';
import pg from 'pg';
import { createPlatform, type Platform } from '../../src/platform.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import type { TenantContext } from '../../src/tenancy/tenant-context.js';
import type { MembershipRole } from '../../src/tenancy/membership-role.js';
import { addMember, createOrganization, createUser } from './privacy-fixture.js';
import type { TestEnv } from './test-env.js';

/** A started postgres-only platform on this file's own database, plus seeding helpers (owner pool, bypasses RLS). */
export interface PostgresHarness {
  readonly t: TestEnv;
  readonly platform: Platform;
  readonly postgres: PostgresConnection;
  /** Creates an organization and returns its id. */
  org(): Promise<string>;
  /** Creates an active user and returns its id. */
  user(): Promise<string>;
  /** Creates a membership (user in organization) and returns a tenant context for it. */
  member(organizationId: string, userId: string, role?: MembershipRole): Promise<TenantContext>;
  /** A fresh organization with one owner, as a tenant context. */
  tenant(): Promise<TenantContext>;
}

/** Starts a postgres-only platform on the test environment `t` (its own database); the caller stops `platform`. */
export async function startPostgresHarness(t: TestEnv): Promise<PostgresHarness> {
  const platform = createPlatform(t.config, { stores: ['postgres'] });
  await platform.start();
  const postgres = platform.resolve(PostgresConnection);
  const org = async () => (await createOrganization(platform)).id;
  const user = async () => (await createUser(platform)).id;
  const member = (organizationId: string, userId: string, role: MembershipRole = 'owner') => addMember(platform, organizationId, userId, role);
  return {
    t,
    platform,
    postgres,
    org,
    user,
    member,
    tenant: async () => member(await org(), await user()),
  };
}

/** Runs one statement as the owner on `databaseUrl` (own connection, closed after): for tests that inspect or age rows directly. */
export async function ownerQuery(databaseUrl: string | undefined, text: string, values: unknown[] = []): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}
