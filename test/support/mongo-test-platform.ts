import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createPlatform, type Platform } from '../../src/platform.js';
import { MongoProvisioner } from '../../src/mongo/mongo-provisioner.js';
import { createTenantContext, type TenantContext } from '../../src/tenancy/tenant-context.js';
import type { MembershipRole } from '../../src/tenancy/membership-role.js';
import type { TestEnv } from './test-env.js';

export interface MongoTestPlatform {
  readonly t: TestEnv;
  readonly platform: Platform;
}

/** Starts a MongoDB-only platform on the test environment `t` (its own database), provisioned unless `provision` is false; the caller stops `platform`. */
export async function startMongoPlatform(t: TestEnv, provision = true): Promise<MongoTestPlatform> {
  const platform = createPlatform(t.config, { stores: ['mongo'] });
  await platform.start();
  if (provision) await platform.resolve(MongoProvisioner).provision();
  return { t, platform };
}

/** A context in a fresh organization (or `organizationId`) for a fresh user. */
export function tenant(organizationId: string = randomUUID(), role: MembershipRole = 'admin'): TenantContext {
  return createTenantContext({ organizationId, userId: randomUUID(), role, scopes: [] });
}
