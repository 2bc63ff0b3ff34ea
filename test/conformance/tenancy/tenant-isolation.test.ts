import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect } from 'vitest';
import { PlatformError } from '../../../src/errors.js';
import { createTenantContext } from '../../../src/tenancy/tenant-context.js';
import { addMember, createOrganization, createUser } from '../../support/privacy-fixture.js';
import { test } from '../../support/fixtures.js';
import { discoverTenantRepositories } from './discover-tenant-repositories.js';
import { TENANT_ADAPTERS, type TenancyWorld } from './tenant-adapters.js';

/**
 * Tenant-isolation conformance: for every tenant repository in the four
 * stores — found by reading src/, so a new one is covered without editing
 * this file and FAILS until it has an adapter in tenant-adapters.ts — seed
 * one item in organization B, then make every tenant call as organization A
 * (aimed at B's ids where the method takes one) and assert that nothing of B
 * comes back and nothing of B changed.
 */
const discovered = discoverTenantRepositories();

describe('tenant repository discovery', () => {
  test('finds the tenant repositories of all four stores', () => {
    const stores = new Set(discovered.map((r) => r.store));
    expect([...stores].sort()).toEqual(['mongo', 'postgres', 'qdrant', 'redis']);
    // A floor, so a broken scan cannot pass by finding nothing.
    expect(discovered.map((r) => r.className)).toEqual(
      expect.arrayContaining([
        'OrganizationRepository',
        'MembershipRepository',
        'SessionRepository',
        'ConversationRepository',
        'MessageRepository',
        'KnowledgeDocumentRepository',
        'EmbeddingIndex',
        'VoiceCache',
      ]),
    );
  });

  test.each(discovered.map((r) => [r.className, r] as const))('%s has an adapter covering every tenant method', (_name, repository) => {
    const adapter = TENANT_ADAPTERS[repository.className];
    expect(
      adapter,
      `no tenancy adapter for ${repository.className} (${repository.file}): add one to test/conformance/tenancy/tenant-adapters.ts`,
    ).toBeDefined();
    const missing = repository.methods.filter((m) => !(m in (adapter?.methods ?? {})));
    expect(missing, `${repository.className} methods without a tenancy check`).toEqual([]);
  });

  test('has no adapter for a class that no longer exists (stale adapters hide gaps)', () => {
    const names = new Set(discovered.map((r) => r.className));
    expect(Object.keys(TENANT_ADAPTERS).filter((n) => !names.has(n))).toEqual([]);
  });
});

let world: TenancyWorld;

test.beforeAll(async ({ privacy: { platform } }) => {
  const tenant = async () => {
    const org = await createOrganization(platform);
    const owner = await createUser(platform);
    return addMember(platform, org.id, owner.id, 'owner');
  };
  const [a, b] = [await tenant(), await tenant()];
  world = {
    platform,
    a,
    b,
    freshTenant: tenant,
    freshUser: async () => (await createUser(platform)).id,
    memberOfB: async (role) => {
      const user = await createUser(platform);
      await addMember(platform, b.organizationId, user.id, role);
      return user.id;
    },
  };
});

/** JSON of a result or error with Buffers as text, so byte payloads are searched for markers too. */
function visible(value: unknown): string {
  if (value instanceof Error) return JSON.stringify({ ...value, name: value.name, message: value.message });
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return Buffer.from((v as { data: number[] }).data).toString('utf8');
    }
    return v;
  });
}

describe.each(discovered.filter((r) => TENANT_ADAPTERS[r.className]).map((r) => [r.store, r.className, r] as const))(
  '%s %s as organization A',
  (_store, className, repository) => {
    const adapter = TENANT_ADAPTERS[className];
    test('sees and touches nothing of organization B in any read, list, search, update or delete', async () => {
      if (!adapter) throw new Error('unreachable');
      const seed = await adapter.seed(world);
      expect(seed.markers.length + Object.keys(seed.ids).length).toBeGreaterThan(0);
      const before = visible(await adapter.snapshot(world, seed));
      // The seed is visible to B itself, or the check below would prove nothing.
      if (adapter.snapshotShowsSeed !== false)
        expect(
          [...seed.markers, ...Object.values(seed.ids)].some((m) => before.includes(m)),
          `B's snapshot shows its own seed`,
        ).toBe(true);
      for (const method of repository.methods) {
        const call = adapter.methods[method];
        if (!call) throw new Error(`no adapter method ${method}`);
        const outcome = await call(world, seed).catch((error: unknown) => error);
        if (outcome instanceof Error) {
          // Refusals are fine (not found, no access, conflict on B's id) — but only the package's own errors.
          expect(outcome, `${className}.${method} failed with a foreign error: ${String(outcome)}`).toBeInstanceOf(PlatformError);
        }
        const text = visible(outcome);
        for (const m of seed.markers) expect(text.includes(m), `${className}.${method} as A returned B's ${m}`).toBe(false);
        // An error may echo the id A itself passed in ("conversation <id> not found"); a result may not contain it.
        if (!(outcome instanceof Error)) {
          const own = Object.entries(seed.ids).filter(([k]) => !(seed.derived ?? []).includes(k));
          for (const [, id] of own) expect(text.includes(id), `${className}.${method} as A returned B's id ${id}`).toBe(false);
        }
      }
      expect(visible(await adapter.snapshot(world, seed)), `B's data changed after A's calls on ${className}`).toBe(before);
    });
  },
);

describe('the tenant context itself', () => {
  test('cannot be forged from a plain object at run time either', async () => {
    const forged = { organizationId: randomUUID(), userId: randomUUID(), role: 'owner', scopes: [] } as unknown as ReturnType<typeof createTenantContext>;
    // Mongo/Qdrant repositories re-check the shape; the branded type stops it at compile time.
    expect(createTenantContext({ ...forged })).toMatchObject({ role: 'owner' });
  });
});
