import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { ErasureFlow } from '../../src/flows/privacy/erasure-flow.js';
import { type ErasureFlowOptions, type ErasureStepEvent } from '../../src/erasure-flow-options.js';
import { ERASURE_FLOW_OPTIONS } from '../../src/tokens.js';
import { seedUserEverywhere, startPrivacyPlatform } from '../support/privacy-fixture.js';
import { Figures, seededRandom } from './reliability-support.js';
import { sleep } from '../support/sleep.js';
import { test } from '../support/fixtures.js';

// Issue 16, item 4: after repeated worker kills the step stayed `running` and its job was dead-lettered;
// the erasure did not finish in 60 s + 150 s. Goal: ≤ 60 s from a worker restart to verifyErased() empty.
const LEASE_MS = 1_500;
const SWEEP_EVERY_MS = 300;
const KILLS = 3;
/** The bound. */
const RESTART_TO_ERASED_MS = 60_000;
/** Deterministic "random" kill points: a fixed seed, reported in the figures. */
const SEED = 16;

const figures = new Figures('faults');
test.afterAll(() => figures.flush());

describe('erasure worker killed repeatedly at random points', () => {
  test(`resumes by itself (step leases + sweep): ${KILLS} kills, then a restarted worker reaches verifyErased() = [] within ${RESTART_TO_ERASED_MS / 1000} s`, async ({
    privacy: { platform, t },
  }) => {
    const random = seededRandom(SEED);
    const seeded = await seedUserEverywhere(platform);
    const flow = platform.resolve(ErasureFlow);
    const killedAt: string[] = [];
    let requestId: string | undefined;

    for (let kill = 0; kill < KILLS; kill++) {
      // This "process" dies at its n-th step event: mid-step (after the deletes, before the bookkeeping) or between steps.
      const dieAt = Math.floor(random() * 3);
      let events = 0;
      let hung: ErasureStepEvent | undefined;
      const options: ErasureFlowOptions = {
        attempts: 1,
        backoffMs: 10,
        leaseMs: LEASE_MS,
        sweepEveryMs: SWEEP_EVERY_MS,
        onStep: async (event) => {
          // `sessions` runs inline in eraseUser (the caller, not the worker): not a worker kill point.
          if (event.step === 'sessions' || hung !== undefined || events++ < dieAt) return;
          hung = event;
          // Never returns: the step's bookkeeping never happens, as in a SIGKILL.
          await new Promise(() => undefined);
        },
      };
      const dying = await startPrivacyPlatform(t.config);
      dying.container.register(ERASURE_FLOW_OPTIONS, { useValue: options });
      const dyingFlow = dying.resolve(ErasureFlow);
      const worker = await dyingFlow.startWorker();
      requestId ??= (await dyingFlow.eraseUser(seeded.userId, { reason: 'reliability: worker kills' })).id;
      const deadline = Date.now() + 20_000;
      while (hung === undefined && (await flow.status(requestId)).status !== 'completed') {
        if (Date.now() > deadline) throw new Error('no kill point was reached');
        await sleep(20);
      }
      if (hung === undefined) break;
      killedAt.push(`${hung.step} (${hung.phase})`);
      // The kill: the worker stops taking jobs, and the PostgreSQL pool dies with it, so no heartbeat renews the lease.
      await worker.close(true);
      await dying.connection('postgres').stop();
      await dying.stop();
    }
    expect(requestId).toBeDefined();
    expect(killedAt.length).toBeGreaterThan(0);

    // A fresh worker with the same short lease: no reconcile() call, no schedule — it must resume by itself.
    const restarted = await startPrivacyPlatform(t.config);
    try {
      restarted.container.register(ERASURE_FLOW_OPTIONS, { useValue: { attempts: 5, backoffMs: 100, leaseMs: LEASE_MS, sweepEveryMs: SWEEP_EVERY_MS } });
      const restartedFlow = restarted.resolve(ErasureFlow);
      const started = performance.now();
      await restartedFlow.startWorker();
      await restartedFlow.waitFor(requestId!, { timeoutMs: RESTART_TO_ERASED_MS, intervalMs: 100 });
      const remainders = await restartedFlow.verifyErased(seeded.userId);
      const ms = performance.now() - started;
      figures.set('g-erasure-kills', {
        check: `erasure worker killed ${killedAt.length} times at seeded random points (seed ${SEED}): ${killedAt.join(', ')}; step lease ${LEASE_MS} ms, sweep every ${SWEEP_EVERY_MS} ms; then one worker started (no reconcile call)`,
        measured: `worker restart → verifyErased() empty in ${Math.round(ms)} ms (bound ${RESTART_TO_ERASED_MS / 1000} s); remainders: ${remainders.length}`,
      });
      expect(remainders).toEqual([]);
      expect(ms).toBeLessThan(RESTART_TO_ERASED_MS);
    } finally {
      await restarted.stop();
    }
  }, 120_000);
});
