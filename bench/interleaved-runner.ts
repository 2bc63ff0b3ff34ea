import type { SideResult } from './bench-result.js';
import { percentile } from './latency-stats.js';

/** One operation. Resolves to how many units it handled (default 1), e.g. events per batch. */
export type Operation = () => Promise<number | void>;

export interface InterleavedOptions {
  /** Workers running the operation back to back (a closed loop). */
  readonly concurrency: number;
  /** Measured rounds; each runs one slice of each side, order alternating (AB, BA, AB …). */
  readonly rounds: number;
  /** Length of one slice. */
  readonly sliceMs: number;
  /** Unmeasured slice of each side before the first round. */
  readonly warmupMs: number;
  /** Upper bound on operations per slice (keeps slow or runaway loops bounded). */
  readonly maxOpsPerSlice?: number;
  /**
   * Independent repetitions of the whole measurement (warm-up + rounds), back to back (default 1).
   * The row's ratio is the median of the repetitions' ratios and their range is its spread.
   */
  readonly repeats?: number;
}

export interface InterleavedResult {
  /** Over every measured slice of every repetition. */
  readonly ours: SideResult;
  readonly baseline: SideResult;
  /** Each repetition on its own (one entry when `repeats` is 1). */
  readonly runs: readonly { readonly ours: SideResult; readonly baseline: SideResult }[];
}

interface Accumulator {
  units: number;
  ops: number;
  elapsedMs: number;
  latencies: number[];
}

const MAX_SAMPLES_PER_SIDE = 2_000_000;

/**
 * Runs `concurrency` workers calling `op` until `sliceMs` has passed (or
 * `maxOps` operations were started). Throughput is units over the slice's wall
 * time, so it is the aggregate of all workers (what a server sees), while each
 * latency sample is one call.
 */
async function runSlice(op: Operation, concurrency: number, sliceMs: number, maxOps: number, into: Accumulator | undefined): Promise<void> {
  let started = 0;
  const start = performance.now();
  const deadline = start + sliceMs;
  const worker = async (): Promise<void> => {
    while (started < maxOps && performance.now() < deadline) {
      started += 1;
      const t0 = performance.now();
      const units = await op();
      const t1 = performance.now();
      if (into) {
        into.units += typeof units === 'number' ? units : 1;
        into.ops += 1;
        if (into.latencies.length < MAX_SAMPLES_PER_SIDE) into.latencies.push(t1 - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (into) into.elapsedMs += performance.now() - start;
}

function summarise(acc: Accumulator): SideResult {
  const sorted = Float64Array.from(acc.latencies).sort();
  return {
    opsPerSec: acc.elapsedMs > 0 ? (acc.units * 1000) / acc.elapsedMs : 0,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    ops: acc.units,
  };
}

/**
 * Measures two operations in the same process, interleaved: a warm-up slice
 * of each, then `rounds` rounds alternating which side goes first, so drift
 * (other processes, autovacuum, JIT tiering, cache warmth) hits both sides alike.
 */
export async function runInterleaved(ours: Operation, baseline: Operation, options: InterleavedOptions): Promise<InterleavedResult> {
  const maxOps = options.maxOpsPerSlice ?? 1_000_000;
  const fresh = (): Accumulator => ({ units: 0, ops: 0, elapsedMs: 0, latencies: [] });
  const all = { ours: fresh(), baseline: fresh() };
  const runs: { ours: SideResult; baseline: SideResult }[] = [];
  for (let repeat = 0; repeat < Math.max(1, options.repeats ?? 1); repeat += 1) {
    const acc = { ours: fresh(), baseline: fresh() };
    await runSlice(ours, options.concurrency, options.warmupMs, maxOps, undefined);
    await runSlice(baseline, options.concurrency, options.warmupMs, maxOps, undefined);
    for (let round = 0; round < options.rounds; round += 1) {
      const order = round % 2 === 0 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const);
      for (const side of order) {
        await runSlice(side === 'ours' ? ours : baseline, options.concurrency, options.sliceMs, maxOps, acc[side]);
      }
    }
    runs.push({ ours: summarise(acc.ours), baseline: summarise(acc.baseline) });
    for (const side of ['ours', 'baseline'] as const) {
      all[side].units += acc[side].units;
      all[side].ops += acc[side].ops;
      all[side].elapsedMs += acc[side].elapsedMs;
      for (const l of acc[side].latencies) if (all[side].latencies.length < MAX_SAMPLES_PER_SIDE) all[side].latencies.push(l);
    }
  }
  return { ours: summarise(all.ours), baseline: summarise(all.baseline), runs };
}
