import 'reflect-metadata';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../../src/errors.js';
import { ERASURE_STEPS, type ErasureFlowOptions, type ErasureStep } from '../../../src/erasure-flow-options.js';
import { ErasureFlow } from '../../../src/flows/privacy/erasure-flow.js';
import { PostgresConnection } from '../../../src/postgres/postgres-connection.js';
import { SessionCache } from '../../../src/redis/repositories/session-cache.js';
import { addMember, createOrganization, createUser, seedUserEverywhere, startPrivacyPlatform } from '../../support/privacy-fixture.js';
import { ERASURE_FLOW_OPTIONS } from '../../../src/tokens.js';
import { test } from '../../support/fixtures.js';

let flow: ErasureFlow;

test.beforeAll(async ({ privacy: { platform } }) => {
  flow = platform.resolve(ErasureFlow);
});

const auditRow = z.object({
  actor_user_id: z.uuid().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  event_type: z.string(),
  details: z.record(z.string(), z.unknown()),
});

describe('eraseUser', () => {
  test('erases the user from all four stores, pseudonymises the audit log and leaves organization data alone', async ({ privacy: { platform } }) => {
    const seeded = await seedUserEverywhere(platform);
    const before = await flow.verifyErased(seeded.userId);
    expect(before.map((r) => `${r.store}:${r.kind}`)).toEqual(
      expect.arrayContaining([
        'postgres:users',
        'postgres:memberships',
        'postgres:sessions',
        'postgres:audit_log',
        'mongo:conversations',
        'mongo:messages',
        'mongo:analytics_events',
        'redis:user-tagged keys',
      ]),
    );

    const worker = await flow.startWorker();
    try {
      const request = await flow.eraseUser(seeded.userId, { reason: 'data subject request #1' });
      // Sessions are revoked inline, before eraseUser returns.
      expect(request.steps.find((s) => s.step === 'sessions')?.status).toBe('done');
      const done = await flow.waitFor(request.id, { timeoutMs: 20_000 });
      expect(done.steps.map((s) => [s.step, s.status])).toEqual(ERASURE_STEPS.map((s) => [s, 'done']));
      expect(done.steps.find((s) => s.step === 'mongo')?.result).toMatchObject({ conversations: 1, messages: 2, analyticsEvents: 1 });
    } finally {
      await worker.close();
    }
    expect(await flow.verifyErased(seeded.userId)).toEqual([]);

    // The audit trail stays (event types intact) but names nobody.
    const pool = platform.resolve(PostgresConnection).ownerPool;
    const audit = await pool.any(sql.type(auditRow)`
      SELECT actor_user_id, host(ip) AS ip, user_agent, event_type, details FROM audit_log WHERE organization_id = ${seeded.organizationId} ORDER BY event_type`);
    // auth.session.revoked: the erasure's own session revocation, written in its transaction (issue 16), pseudonymised too;
    // api_key.created: written with the seeded key (issue 20).
    expect(audit.map((a) => a.event_type)).toEqual(['api_key.created', 'auth.login.succeeded', 'auth.session.revoked', 'members.role.changed']);
    expect(JSON.stringify(audit)).not.toContain(seeded.userId);
    expect(JSON.stringify(audit)).not.toContain(seeded.email);
    expect(audit.find((a) => a.event_type === 'auth.login.succeeded')).toMatchObject({ ip: null, user_agent: null });
    expect(audit.find((a) => a.event_type === 'members.role.changed')?.actor_user_id).toBe(seeded.ownerId);

    // Organization-owned data survives: the owner, the knowledge document and its Qdrant point.
    const remaining = await flow.verifyOrganizationDeleted(seeded.organizationId);
    expect(remaining).toEqual(
      expect.arrayContaining([
        { store: 'qdrant', kind: 'points', count: 1 },
        { store: 'postgres', kind: 'memberships', count: 1 },
      ]),
    );
    const keyCreators = await pool.anyFirst(
      sql.type(z.object({ created_by: z.uuid().nullable() }))`SELECT created_by FROM api_keys WHERE organization_id = ${seeded.organizationId}`,
    );
    expect(keyCreators).toEqual([null]);

    // A revoked session cannot come back from the cache.
    const validation = await platform.resolve(SessionCache).validate({ userId: seeded.userId, sessionId: seeded.ids.sessions[0] ?? '' });
    expect(validation.status).not.toBe('hit');

    // Asking again is idempotent: the completed request comes back.
    const again = await flow.eraseUser(seeded.userId, { reason: 'again' });
    expect(again.status).toBe('completed');
  });

  test('refuses the only owner of an organization, naming it, before recording anything', async ({ privacy: { platform } }) => {
    const org = await createOrganization(platform, 'sole-owned');
    const user = await createUser(platform);
    await addMember(platform, org.id, user.id, 'owner');
    const error = await flow.eraseUser(user.id, { reason: 'test' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).constraint).toBe('memberships_last_owner');
    expect((error as Error).message).toContain('sole-owned');
    expect(await flow.verifyErased(user.id)).toEqual(expect.arrayContaining([{ store: 'postgres', kind: 'users', count: 1 }]));
  });

  test('validates its input and refuses unknown users', async () => {
    await expect(flow.eraseUser('not-a-uuid', { reason: 'x' })).rejects.toBeInstanceOf(ValidationError);
    await expect(flow.eraseUser('00000000-0000-4000-8000-000000000000', { reason: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(flow.eraseUser('00000000-0000-4000-8000-000000000000', { reason: 'x' })).rejects.toBeInstanceOf(NotFoundError);
  });
});

class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

const CRASH_POINTS = ERASURE_STEPS.flatMap((step) => (['applied', 'recorded'] as const).map((phase) => ({ step, phase })));

describe('eraseUser after a crash at every step', () => {
  test.for(CRASH_POINTS)(
    'killed after step $step ($phase) — a fresh platform resumes via the reconciler and finishes',
    async ({ step, phase }: { step: ErasureStep; phase: 'applied' | 'recorded' }, { privacy: { platform, t } }) => {
      const seeded = await seedUserEverywhere(platform);

      // Process 1: dies at the crash point. One attempt per job, so nothing but the reconciler can revive the work.
      let crashed = false;
      const dying: ErasureFlowOptions = {
        attempts: 1,
        backoffMs: 10,
        onStep: (event) => {
          if (event.step === step && event.phase === phase) {
            crashed = true;
            throw new SimulatedCrash(`simulated crash after ${step} (${phase})`);
          }
        },
      };
      const first = await startPrivacyPlatform(t.config);
      let requestId: string;
      try {
        first.container.register(ERASURE_FLOW_OPTIONS, { useValue: dying });
        const firstFlow = first.resolve(ErasureFlow);
        // The sessions step runs inline in eraseUser; the others on the worker.
        if (step !== 'sessions') await firstFlow.startWorker();
        requestId = (await firstFlow.eraseUser(seeded.userId, { reason: `crash test ${step} ${phase}` })).id;
        const deadline = Date.now() + 15_000;
        while (!crashed) {
          if (Date.now() > deadline) throw new Error('the crash point was never reached');
          await new Promise((r) => setTimeout(r, 20));
        }
        // Let BullMQ record the failed attempt before the "process" goes away.
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        await first.stop();
      }
      const interrupted = await flow.status(requestId);
      expect(interrupted.status).not.toBe('completed');
      // Until the Postgres step has run, the user row (at least) is still there.
      if (step !== 'postgres') expect(await flow.verifyErased(seeded.userId)).not.toEqual([]);

      // Process 2: a fresh platform with default options resumes from Postgres.
      const second = await startPrivacyPlatform(t.config);
      try {
        const secondFlow = second.resolve(ErasureFlow);
        await secondFlow.startWorker();
        await secondFlow.reconcile();
        const done = await secondFlow.waitFor(requestId, { timeoutMs: 20_000 });
        expect(done.steps.every((s) => s.status === 'done')).toBe(true);
        const crashedStep = done.steps.find((s) => s.step === step);
        expect(crashedStep?.attempts).toBe(phase === 'applied' ? 2 : 1);
        expect(await secondFlow.verifyErased(seeded.userId)).toEqual([]);
      } finally {
        await second.stop();
      }
    },
  );
});
