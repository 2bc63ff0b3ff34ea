import { describe, expect, it } from 'vitest';
import { attachShortfalls } from '../../bench/attach-shortfalls.js';
import type { SideResult } from '../../bench/bench-result.js';
import { measuredRow, type RowSpec } from '../../bench/bench-row.js';
import type { InterleavedResult } from '../../bench/interleaved-runner.js';

const side = (opsPerSec: number): SideResult => ({ opsPerSec, p50Ms: 1, p99Ms: 2, ops: 100 });
/** Three repetitions whose ours ÷ baseline throughputs are `ratios` (the row's ratio is their median). */
const measured = (...ratios: number[]): InterleavedResult => {
  const runs = ratios.map((r) => ({ ours: side(100 * r), baseline: side(100) }));
  return { ours: side(100), baseline: side(100), runs };
};
const goalSpec = (name: string, profiles: string[]): RowSpec => ({
  name,
  unit: 'op',
  oursLabel: 'ours',
  baselineLabel: 'baseline',
  goal: '≥ 0.8×',
  goalMinRatio: 0.8,
  backend: 'test',
  shortfall: { reason: `why ${name} misses`, profiles },
});
const profileRow = (name: string, ...ratios: number[]) =>
  measuredRow({ name, unit: 'op', oursLabel: 'ours', baselineLabel: 'baseline', backend: 'test' }, measured(...ratios));

describe('attachShortfalls: a missed goal carries its declared reason and the same run’s profile ratios', () => {
  const profile = [profileRow('profile: a', 0.85, 0.9, 0.88), profileRow('profile: b', 0.5)];

  it('gives a row that met its goal no shortfall, and leaves rows without a goal alone', () => {
    const [met, info] = attachShortfalls([measuredRow(goalSpec('met', ['profile: a']), measured(0.9, 0.95, 0.85)), profile[1]!], profile);
    expect(met?.met).toBe(true);
    expect(met?.shortfall).toBeNull();
    expect(info).toBe(profile[1]);
    expect(info?.shortfall).toBeUndefined();
  });

  it('fills a missed row’s evidence with each named profile row’s ratio and spread, null for one this run did not measure', () => {
    const [missed] = attachShortfalls([measuredRow(goalSpec('missed', ['profile: a', 'profile: b', 'profile: gone']), measured(0.7, 0.6, 0.75))], profile);
    expect(missed?.met).toBe(false);
    expect(missed?.shortfall).toEqual({
      reason: 'why missed misses',
      evidence: [
        { profile: 'profile: a', ratio: 0.88, ratioRuns: [0.85, 0.9, 0.88] },
        { profile: 'profile: b', ratio: 0.5, ratioRuns: [0.5] },
        { profile: 'profile: gone', ratio: null },
      ],
    });
  });

  it('leaves a missed goal row without a declared reason with a null shortfall (the quick bench test then fails)', () => {
    const { shortfall: _, ...bare } = goalSpec('undeclared', []);
    const [row] = attachShortfalls([measuredRow(bare, measured(0.5))], profile);
    expect(row?.met).toBe(false);
    expect(row?.shortfall).toBeNull();
  });
});
