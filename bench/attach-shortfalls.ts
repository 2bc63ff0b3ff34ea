import type { BenchRow } from './bench-result.js';

/**
 * Fills each missed goal row's evidence with the ratios its profile rows measured in the same run (null for a
 * profile row this run did not measure, e.g. under `--only`); a row that did not miss its goal gets no shortfall.
 */
export function attachShortfalls(rows: readonly BenchRow[], profile: readonly BenchRow[]): BenchRow[] {
  const byName = new Map(profile.map((p) => [p.name, p]));
  return rows.map((row) => {
    if (row.shortfall === undefined) return row;
    if (row.met !== false || row.shortfall === null) return { ...row, shortfall: null };
    const evidence = row.shortfall.evidence.map(({ profile: name }) => {
      const p = byName.get(name);
      return { profile: name, ratio: p?.ratio ?? null, ...(p?.ratioRuns ? { ratioRuns: p.ratioRuns } : {}) };
    });
    return { ...row, shortfall: { reason: row.shortfall.reason, evidence } };
  });
}
