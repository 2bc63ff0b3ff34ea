import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createPlatform, type Platform } from '../../../src/platform.js';
import { MongoProvisioner } from '../../../src/mongo/mongo-provisioner.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import type { MembershipRole } from '../../../src/tenancy/membership-role.js';
import { createTestEnv, type TestEnv } from '../../support/test-env.js';

export interface MongoTestPlatform extends AsyncDisposable {
  readonly t: TestEnv;
  readonly platform: Platform;
  close(): Promise<void>;
}

/** A started platform on this file's own MongoDB database, provisioned unless `provision: false`. */
export async function startMongoPlatform(options: { provision?: boolean; env?: Record<string, string> } = {}): Promise<MongoTestPlatform> {
  const t = await createTestEnv(options.env);
  const platform = createPlatform(t.config, { stores: ['mongo'] });
  await platform.start();
  if (options.provision !== false) await platform.resolve(MongoProvisioner).provision();
  const close = async (): Promise<void> => {
    await platform.stop();
    await t.cleanup();
  };
  return { t, platform, close, [Symbol.asyncDispose]: close };
}

/** A context in a fresh organization (or `organizationId`) for a fresh user. */
export function tenant(organizationId: string = randomUUID(), role: MembershipRole = 'admin'): TenantContext {
  return createTenantContext({ organizationId, userId: randomUUID(), role, scopes: [] });
}
