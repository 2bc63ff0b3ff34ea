import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { BenchReport, BenchRow } from '../../bench/bench-result.js';
import { PROFILE_ROW, loginProfileRowName } from '../../bench/rows/profile-row-names.js';
import { ROOT } from '../support/run-cli.js';

const run = promisify(execFile);
const TSC = join(ROOT, 'node_modules/.bin/tsc');
// Under test-results/: a test run never writes tracked files (bench/results/latest.json is the full run's).
const OUT = join(ROOT, 'test-results', `bench-quick-${randomBytes(4).toString('hex')}.json`);

/** Rows the issue asks for; each must be measured or say why not. */
const REQUIRED_ROWS = [
  'user by email vs raw pg',
  'user by email vs Drizzle',
  'session validate (Redis hit)',
  'session validate (miss → Postgres)',
  'audit writes',
  'login throughput',
  'tenant read with RLS',
  'knowledge ingestion',
  'growth: user by email',
  'growth: session validate',
  'semantic search end to end',
];

function isSide(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return ['opsPerSec', 'p50Ms', 'p99Ms'].every((k) => typeof s[k] === 'number' && Number.isFinite(s[k]) && (s[k] as number) >= 0);
}

function checkRow(row: BenchRow): void {
  expect(row.name).toEqual(expect.any(String));
  expect(row.unit).toEqual(expect.any(String));
  expect(row.backend.length).toBeGreaterThan(0);
  if (row.ours === null || row.baseline === null) {
    // Not measured: there must be an explicit reason.
    expect(row.note, row.name).toMatch(/\S/);
    expect(row.ratio).toBeNull();
    expect(row.met).toBeNull();
  } else {
    expect(isSide(row.ours), `${row.name}: ours`).toBe(true);
    expect(isSide(row.baseline), `${row.name}: baseline`).toBe(true);
    expect(row.ratio, row.name).toEqual(expect.any(Number));
    if (row.goalMinRatio !== null) expect(row.met, row.name).toBe(row.ratio !== null && row.ratio >= row.goalMinRatio);
  }
}

// Runs the suite (`--quick`) so it cannot rot; asserts the shape of the report, never speed.
describe('benchmarks (quick)', () => {
  afterAll(async () => {
    await rm(OUT, { force: true });
  });

  it('writes a report with every row measured or explained', async () => {
    await run(TSC, ['-p', 'bench/tsconfig.json'], { cwd: ROOT });
    // The servers this suite found, so the run does not probe again (under load a 1.5 s probe can miss the
    // machine's server and fall back to another backend).
    const { urls } = inject('stack');
    const env = { ...process.env, ...(urls.postgres ? { DATABASE_URL: urls.postgres } : {}), ...(urls.redis ? { REDIS_URL: urls.redis } : {}) };
    await run(process.execPath, [join(ROOT, 'dist-bench/bench/run-benchmarks.js'), '--quick', '--no-docs', '--out', OUT], {
      cwd: ROOT,
      env,
      // Generous: a bound for a hung run, not a speed goal (the quick run took 130 s at load 20).
      timeout: 420_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const report = JSON.parse(await readFile(OUT, 'utf8')) as BenchReport;
    expect(report.mode).toBe('quick');
    const m = report.machine;
    expect(m.cpus).toBeGreaterThan(0);
    for (const key of ['cpuModel', 'node', 'os', 'postgres', 'redis', 'date'] as const) expect(m[key], key).toMatch(/\S/);
    expect(m.memoryGb).toBeGreaterThan(0);
    for (const name of REQUIRED_ROWS) {
      expect(
        report.rows.some((r) => r.name.startsWith(name)),
        `row "${name}"`,
      ).toBe(true);
    }
    for (const row of [...report.rows, ...report.profile]) checkRow(row);
    // Every profile row a goal row may cite is in the report under that exact name (the run's cost is 10).
    const profiles = new Map(report.profile.map((p) => [p.name, p]));
    for (const name of [...Object.values(PROFILE_ROW), loginProfileRowName(10)]) expect(profiles.has(name), `profile row "${name}"`).toBe(true);
    // A missed goal says why, with the ratios of profile rows of this same report (or says that none isolates the cost).
    for (const row of report.rows) {
      if (row.met !== false) {
        if (row.goalMinRatio !== null) expect(row.shortfall, row.name).toBeNull();
        continue;
      }
      expect(row.shortfall?.reason, row.name).toMatch(/\S/);
      const evidence = row.shortfall?.evidence ?? [];
      if (evidence.length === 0) expect(row.shortfall?.reason, row.name).toMatch(/^no profile row isolates/);
      for (const e of evidence) expect(e.ratio, `${row.name} cites "${e.profile}"`).toBe(profiles.get(e.profile)?.ratio);
    }
    // A row that failed at run time is a defect of the suite, not a "not available" piece.
    expect([...report.rows, ...report.profile].filter((r) => r.note?.startsWith('failed in this run')).map((r) => `${r.name}: ${r.note}`)).toEqual([]);
  }, 480_000);
});
