/** Shapes of bench/results/latest.json. */

export interface SideResult {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Operations measured (warm-up excluded). */
  readonly ops: number;
}

/** One profile row of the same run that shows why a goal row fell short. */
export interface ShortfallEvidence {
  /** The profile row's exact `name` in the report's `profile`. */
  readonly profile: string;
  /** That row's ratio in this run; null when it was not measured (e.g. left out by `--only`). */
  readonly ratio: number | null;
  readonly ratioRuns?: readonly number[];
}

/** Why a goal row missed its goal, with the profile rows of the same run that measure the cause. */
export interface Shortfall {
  readonly reason: string;
  /** Empty only when no profile row isolates the cost (the reason then says so). */
  readonly evidence: readonly ShortfallEvidence[];
}

export interface BenchRow {
  readonly name: string;
  /** What one operation is (e.g. "lookup", "event"). */
  readonly unit: string;
  /** What "ours" and "baseline" are, in a few words each. */
  readonly oursLabel: string;
  readonly baselineLabel: string;
  readonly ours: SideResult | null;
  readonly baseline: SideResult | null;
  /** Higher is better for us: throughput ours ÷ baseline, or (metric `p50`) p50 baseline ÷ p50 ours. */
  readonly ratio: number | null;
  /** Each repetition's ratio (the row's `ratio` is their median); absent in reports older than repetitions. */
  readonly ratioRuns?: readonly number[];
  readonly metric: 'throughput' | 'p50';
  /** Human-readable goal, e.g. "≥ 0.85×"; null when the row is informational. */
  readonly goal: string | null;
  /** The minimum `ratio` that meets the goal; null when informational. */
  readonly goalMinRatio: number | null;
  /** null when informational or not measured. */
  readonly met: boolean | null;
  readonly backend: string;
  /** Why the row is not measured ("not yet available: …"), or a caveat. */
  readonly note: string | null;
  /** Set when `met` is false (null otherwise); absent in reports older than it and on profile rows. */
  readonly shortfall?: Shortfall | null;
}

export interface Ceilings {
  readonly pgbenchSelectTps: number | null;
  readonly pgbenchCommand: string | null;
  readonly redisGetRps: number | null;
  readonly redisBenchmarkCommand: string | null;
  readonly note: string | null;
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly node: string;
  readonly os: string;
  readonly postgres: string;
  readonly redis: string;
  readonly date: string;
  readonly loadAverage1m: number;
  readonly ceilings: Ceilings;
}

export interface BenchReport {
  readonly mode: 'full' | 'quick';
  readonly durationSeconds: number;
  /** Repetitions of every row's measurement (median and spread over them). */
  readonly repeats?: number;
  /** 1-minute load average when the rows ended (the start's is in `machine`). */
  readonly loadAverageAtEnd?: number;
  readonly machine: MachineInfo;
  readonly rows: readonly BenchRow[];
  /** Decomposition of the Postgres lookup cost (see docs/benchmarks.md). */
  readonly profile: readonly BenchRow[];
}
