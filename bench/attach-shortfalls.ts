import type { BenchRow } from './bench-result.js';

/**
 * Fills each missed goal row's evidence with the ratios its profile rows measured in the same run (null for a
 * profile row this run did not measure, e.g. under `--only`). Which rows missed is settled already: measuredRow
 * gives a row that met its goal (or has none) no shortfall, so only rows carrying one are touched.
 */
export function attachShortfalls(rows: readonly BenchRow[], profile: readonly BenchRow[]): BenchRow[] {
  const byName = new Map(profile.map((p) => [p.name, p]));
  return rows.map((row) => {
    if (!row.shortfall) return row;
    const evidence = row.shortfall.evidence.map(({ profile: name }) => {
      const p = byName.get(name);
      return { profile: name, ratio: p?.ratio ?? null, ...(p?.ratioRuns ? { ratioRuns: p.ratioRuns } : {}) };
    });
    return { ...row, shortfall: { reason: row.shortfall.reason, evidence } };
  });
}
