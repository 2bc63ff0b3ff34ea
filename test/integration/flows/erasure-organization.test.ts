import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { ERASURE_STEPS } from '../../../src/erasure-flow-options.js';
import { ErasureFlow } from '../../../src/flows/privacy/erasure-flow.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { SessionCache } from '../../../src/redis/repositories/session-cache.js';
import { seedUserEverywhere, startPrivacyPlatform } from '../../support/privacy-fixture.js';
import { ERASURE_FLOW_OPTIONS } from '../../../src/tokens.js';
import { test } from '../../support/fixtures.js';

let flow: ErasureFlow;

test.beforeAll(async ({ privacy: { platform } }) => {
  flow = platform.resolve(ErasureFlow);
});

describe('deleteOrganization', () => {
  test('deletes the tenant in all four stores, verified, and leaves other tenants and the members’ accounts alone', async ({ privacy: { platform } }) => {
    const doomed = await seedUserEverywhere(platform);
    const other = await seedUserEverywhere(platform);
    const before = await flow.verifyOrganizationDeleted(doomed.organizationId);
    expect(before.map((r) => `${r.store}:${r.kind}`)).toEqual(
      expect.arrayContaining([
        'postgres:organizations',
        'postgres:memberships',
        'mongo:conversations',
        'mongo:knowledge_documents',
        'qdrant:points',
        'redis:organization-tagged keys',
      ]),
    );

    const worker = await flow.startWorker();
    try {
      const request = await flow.deleteOrganization(doomed.organizationId, { reason: 'customer closed the account' });
      expect(request.subjectType).toBe('organization');
      const done = await flow.waitFor(request.id, { timeoutMs: 20_000 });
      expect(done.steps.map((s) => s.status)).toEqual(ERASURE_STEPS.map(() => 'done'));
    } finally {
      await worker.close();
    }
    expect(await flow.verifyOrganizationDeleted(doomed.organizationId)).toEqual([]);

    // The revoked session is refused by the cache, not served from it.
    const validation = await platform.resolve(SessionCache).validate({ userId: doomed.userId, sessionId: doomed.ids.sessions[0] ?? '' });
    expect(validation.status).not.toBe('hit');

    // The other tenant is untouched.
    const untouched = await flow.verifyOrganizationDeleted(other.organizationId);
    expect(untouched).toEqual(
      expect.arrayContaining([
        { store: 'qdrant', kind: 'points', count: 1 },
        { store: 'mongo', kind: 'conversations', count: 1 },
        { store: 'mongo', kind: 'messages', count: 2 },
        { store: 'postgres', kind: 'memberships', count: 2 },
      ]),
    );

    // Members keep their accounts (a user spans organizations).
    const users = await platform.resolve(PostgresConnection).ownerPool.anyFirst(sql.type(z.object({ id: z.uuid() }))`
      SELECT id FROM users WHERE id IN (${doomed.userId}, ${doomed.ownerId})`);
    expect(users).toHaveLength(2);
  });

  test('resumes after a crash in the middle and ends verified', async ({ privacy: { platform, t } }) => {
    const doomed = await seedUserEverywhere(platform);
    const first = await startPrivacyPlatform(t.config);
    let requestId: string;
    let crashed = false;
    try {
      first.container.register(ERASURE_FLOW_OPTIONS, {
        useValue: {
          attempts: 1,
          backoffMs: 10,
          onStep: (e) => {
            if (e.step === 'qdrant' && e.phase === 'applied') {
              crashed = true;
              throw new Error('simulated crash');
            }
          },
        },
      });
      const firstFlow = first.resolve(ErasureFlow);
      await firstFlow.startWorker();
      requestId = (await firstFlow.deleteOrganization(doomed.organizationId, { reason: 'crash test' })).id;
      const deadline = Date.now() + 15_000;
      while (!crashed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(crashed).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await first.stop();
    }
    expect(await flow.verifyOrganizationDeleted(doomed.organizationId)).not.toEqual([]);
    // Asking again while it is open returns the same request.
    expect((await flow.deleteOrganization(doomed.organizationId, { reason: 'again' })).id).toBe(requestId);

    const second = await startPrivacyPlatform(t.config);
    try {
      const secondFlow = second.resolve(ErasureFlow);
      await secondFlow.startWorker();
      await secondFlow.reconcile();
      await secondFlow.waitFor(requestId, { timeoutMs: 20_000 });
      expect(await secondFlow.verifyOrganizationDeleted(doomed.organizationId)).toEqual([]);
    } finally {
      await second.stop();
    }
  });
});
