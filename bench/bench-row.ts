import type { BenchRow, Shortfall } from './bench-result.js';
import type { InterleavedResult } from './interleaved-runner.js';

/** Why a goal row can miss its goal: the mechanism, and the profile rows of the same run that measure it. */
export interface ShortfallSpec {
  readonly reason: string;
  /** Exact names of rows in the run's `profile`; empty only when none isolates the cost, which the reason then says. */
  readonly profiles: readonly string[];
}

/** What a row is, before it is measured. */
export interface RowSpec {
  readonly name: string;
  readonly unit: string;
  readonly oursLabel: string;
  readonly baselineLabel: string;
  readonly metric?: 'throughput' | 'p50';
  readonly goal?: string;
  readonly goalMinRatio?: number;
  readonly backend: string;
  readonly note?: string;
  /** On goal rows: reported (with the profile rows' ratios, see attachShortfalls) when the goal is missed. */
  readonly shortfall?: ShortfallSpec;
}

/** The declared shortfall with its evidence not yet looked up (attachShortfalls fills the ratios once the profile ran). */
function declaredShortfall(spec: RowSpec, met: boolean | null): { shortfall?: Shortfall | null } {
  if (spec.goalMinRatio === undefined) return {};
  if (met !== false || spec.shortfall === undefined) return { shortfall: null };
  return { shortfall: { reason: spec.shortfall.reason, evidence: spec.shortfall.profiles.map((profile) => ({ profile, ratio: null })) } };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A measured row: ratio is "higher is better for ours" whichever the metric. */
export function measuredRow(spec: RowSpec, result: InterleavedResult): BenchRow {
  const metric = spec.metric ?? 'throughput';
  const ratioOf = (r: { ours: InterleavedResult['ours']; baseline: InterleavedResult['baseline'] }) =>
    metric === 'throughput' ? r.ours.opsPerSec / r.baseline.opsPerSec : r.baseline.p50Ms / r.ours.p50Ms;
  const runs = (result.runs.length > 0 ? result.runs : [result])
    .map(ratioOf)
    .filter(Number.isFinite)
    .map((r) => round(r, 3));
  const sorted = [...runs].sort((a, b) => a - b);
  // The median of the repetitions' ratios (the lower middle one for an even count: the conservative pick).
  const ratio = sorted.length === 0 ? null : (sorted[Math.floor((sorted.length - 1) / 2)] ?? null);
  const met = spec.goalMinRatio === undefined || ratio === null ? null : ratio >= spec.goalMinRatio;
  const side = (s: InterleavedResult['ours']) => ({ opsPerSec: round(s.opsPerSec, 1), p50Ms: round(s.p50Ms, 4), p99Ms: round(s.p99Ms, 4), ops: s.ops });
  return {
    name: spec.name,
    unit: spec.unit,
    oursLabel: spec.oursLabel,
    baselineLabel: spec.baselineLabel,
    ours: side(result.ours),
    baseline: side(result.baseline),
    ratio,
    ratioRuns: runs,
    metric,
    goal: spec.goal ?? null,
    goalMinRatio: spec.goalMinRatio ?? null,
    met,
    backend: spec.backend,
    note: spec.note ?? null,
    ...declaredShortfall(spec, met),
  };
}

/** A row that could not be measured in this run, with the reason. */
export function unavailableRow(spec: RowSpec, reason: string): BenchRow {
  return {
    name: spec.name,
    unit: spec.unit,
    oursLabel: spec.oursLabel,
    baselineLabel: spec.baselineLabel,
    ours: null,
    baseline: null,
    ratio: null,
    metric: spec.metric ?? 'throughput',
    goal: spec.goal ?? null,
    goalMinRatio: spec.goalMinRatio ?? null,
    met: null,
    backend: spec.backend,
    note: reason,
    ...declaredShortfall(spec, null),
  };
}
