/**
 * Ports of the servers a row starts, `first-last` from `variable` (e.g. BENCH_REDIS_CLUSTER_PORTS), else
 * `fallback`: ranges no test project uses (they take 7000-7099, 6432-6440 and 5500-5599), so a full run
 * does not collide with a test run.
 */
export function portRange(variable: string, fallback: readonly [number, number]): readonly [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(process.env[variable] ?? '');
  return match ? [Number(match[1]), Number(match[2])] : fallback;
}
