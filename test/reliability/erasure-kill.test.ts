import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect } from 'vitest';
import { ErasureFlow } from '../../src/flows/privacy/erasure-flow.js';
import type { TestEnv } from '../support/test-env.js';
import { seedUserEverywhere } from '../support/privacy-fixture.js';
import { test } from '../support/fixtures.js';
import { sleep } from '../support/sleep.js';
import { Figures, seededRandom } from './reliability-support.js';

// Issue 16, item 4 and "Done when": erasure worker killed repeatedly at random points, then
// "erasure finishes ≤ 60 s after a worker restart". erasure-restart.test.ts simulates the kills inside one
// process; here each worker is a real process (children/erasure-worker.mjs, the built package) ended by
// SIGKILL while it is inside a step, so nothing of it — heartbeats, BullMQ lock renewal, pool — outlives it.
const CHILD = fileURLToPath(new URL('./children/erasure-worker.mjs', import.meta.url));
const KILLS = 3;
/** The bound. */
const RESTART_TO_ERASED_MS = 60_000;
/** A deployment's setting (PlatformOptions.erasureFlow), shortened so three kills fit a CI run; the default is 15 s / 5 s. */
const LEASE_MS = 3_000;
const SWEEP_EVERY_MS = 1_000;
/** Seeded kill points, reported in the figures. */
const SEED = 1616;

const figures = new Figures('faults');
test.afterAll(() => figures.flush());

interface Worker {
  /** Resolves with the kill point line once the child reports it (never, when it has none). */
  readonly killPoint: Promise<string>;
  kill(): Promise<void>;
}

async function startWorker(t: TestEnv, killAt: number): Promise<Worker> {
  const child = spawn(process.execPath, [CHILD, String(killAt), String(LEASE_MS), String(SWEEP_EVERY_MS)], {
    env: { ...process.env, ...t.env, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  let onKillPoint: (line: string) => void = () => undefined;
  const killPoint = new Promise<string>((resolve) => (onKillPoint = resolve));
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
    const line = output.split('\n').find((l) => l.startsWith('KILLPOINT '));
    if (line) onKillPoint(line.slice('KILLPOINT '.length));
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 600 && !output.includes('READY') && child.exitCode === null; i++) await sleep(50);
  expect(output, stderr).toContain('READY');
  return {
    killPoint,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('erasure worker processes SIGKILLed inside a step, repeatedly', () => {
  test(`${KILLS} kills at seeded points, then a restarted worker process reaches verifyErased() = [] within ${RESTART_TO_ERASED_MS / 1000} s`, async ({
    privacy: { t, platform },
  }) => {
    const random = seededRandom(SEED);
    const seeded = await seedUserEverywhere(platform);
    const flow = platform.resolve(ErasureFlow);
    const killedAt: string[] = [];
    let requestId: string | undefined;

    for (let kill = 0; kill < KILLS; kill++) {
      const worker = await startWorker(t, Math.floor(random() * 3));
      requestId ??= (await flow.eraseUser(seeded.userId, { reason: 'reliability: worker processes killed' })).id;
      // The child reaches its kill point (a lease expiry + one sweep after the previous kill at most), or the erasure ends first.
      const reached = await Promise.race([worker.killPoint, flow.waitFor(requestId, { timeoutMs: 30_000, intervalMs: 100 }).then(() => undefined)]);
      await worker.kill();
      if (reached === undefined) break;
      killedAt.push(reached);
    }
    expect(requestId).toBeDefined();
    // Every kill landed inside a step of an unfinished erasure, so the restart below has something to resume.
    expect(killedAt).toHaveLength(KILLS);
    expect((await flow.status(requestId!)).status).not.toBe('completed');

    const started = performance.now();
    const worker = await startWorker(t, -1);
    try {
      await flow.waitFor(requestId!, { timeoutMs: RESTART_TO_ERASED_MS, intervalMs: 100 });
      const remainders = await flow.verifyErased(seeded.userId);
      const ms = performance.now() - started;
      figures.set('g-erasure-process-kills', {
        check: `erasure worker processes SIGKILLed ${killedAt.length} times inside a step at seeded points (seed ${SEED}): ${killedAt.join(', ')}; lease ${LEASE_MS} ms, sweep every ${SWEEP_EVERY_MS} ms; then one worker process started`,
        measured: `process start → verifyErased() empty within the ${RESTART_TO_ERASED_MS / 1000} s bound; remainders: ${remainders.length}`,
      });
      expect(remainders).toEqual([]);
      expect(ms).toBeLessThan(RESTART_TO_ERASED_MS);
    } finally {
      await worker.kill();
    }
  }, 180_000);
});
