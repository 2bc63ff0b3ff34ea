// An erasure worker in a process of its own, so test/reliability/erasure-kill.test.ts can SIGKILL it
// mid-step. Runs against the built package (dist/, built by the global setup).
//   argv[2]: the step event (0-based, `sessions` excluded: it runs in the caller) at which this process
//            stops and waits for its kill (-1: never), argv[3]: leaseMs, argv[4]: sweepEveryMs.
// Lines, each written synchronously before anything else happens:
//   READY                      — the worker and its sweep are running
//   KILLPOINT <step> <phase>   — this process has reached its kill point and waits there (heartbeats still run)
import { writeSync } from 'node:fs';
import { createPlatform, ErasureFlow, loadConfig } from '../../../dist/index.js';

const [killAt, leaseMs, sweepEveryMs] = process.argv.slice(2, 5).map(Number);
const out = (line) => writeSync(1, `${line}\n`);
let events = 0;
let stopped = false;
const onStep = async (event) => {
  if (killAt < 0 || event.step === 'sessions' || stopped || events++ < killAt) return;
  stopped = true;
  out(`KILLPOINT ${event.step} ${event.phase}`);
  // Never returns: the step's bookkeeping never happens; the SIGKILL ends the process here.
  await new Promise(() => undefined);
};
const platform = createPlatform(loadConfig(process.env), { erasureFlow: { leaseMs, sweepEveryMs, onStep } });
await platform.start();
await platform.resolve(ErasureFlow).startWorker();
out('READY');
