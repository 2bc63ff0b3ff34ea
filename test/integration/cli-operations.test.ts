import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect } from 'vitest';
import { runCli } from '../support/run-cli.js';
import { test } from '../support/fixtures.js';

// CLI items of issues 19 and 20: maintenance, bootstrap's causes and exit codes (README "Exit codes": 0 ok,
// 1 a store failed, 2 usage or configuration), export refusing to overwrite, rounded JSON.

describe('platform-data CLI: maintenance, bootstrap causes, exit codes', () => {
  test('maintenance run --json runs every job once and status shows the last run of each', async ({ testEnv: t }) => {
    const run = await runCli(['maintenance', 'run', '--json'], { env: t.env });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const results = JSON.parse(run.stdout) as Array<{ job: string; status: string; ms: number }>;
    expect(results.map((r) => r.job)).toContain('refresh-token-families');
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
    const status = await runCli(['maintenance', 'status'], { env: t.env });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^audit-retention\s+succeeded/m);
    const bad = await runCli(['maintenance', 'run', '--job', 'everything'], { env: t.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown job "everything"');
  }, 120_000);

  test('bad option values are usage errors (exit 2) naming the allowed range', async ({ testEnv: t }) => {
    const wait = await runCli(['bootstrap', '--wait', 'abc'], { env: t.env });
    expect(wait.code).toBe(2);
    expect(wait.stderr.trim()).toBe('error: Invalid input: --wait: must be a number of seconds from 0 to 3600, got "abc"');
    const worker = await runCli(['worker', '--concurrency', '0'], { env: t.env });
    expect(worker.code).toBe(2);
    expect(worker.stderr).toContain('--concurrency: must be a whole number from 1 to 64, got 0');
  }, 60_000);

  test('bootstrap against a missing database fails at once (no retry until --wait), says what to do, never "no changes"; --create-database creates it', async ({
    testEnv: t,
  }) => {
    const name = `pd_ops_${randomBytes(4).toString('hex')}`;
    const url = new URL(t.databaseUrl!);
    url.pathname = `/${name}`;
    const env = { ...t.env, DATABASE_URL: url.toString(), DATABASE_APP_URL: '' };
    const missing = await runCli(['bootstrap', '--only', 'postgres', '--wait', '120'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stdout).not.toContain('no changes');
    expect(missing.stdout).toContain('bootstrap failed: postgres');
    expect(missing.stderr).toContain(`database "${name}" does not exist (create it with \`platform-data bootstrap --create-database\``);
    // Permanent: reported long before the 120 s a transient cause would be retried for.
    expect(missing.ms).toBeLessThan(60_000);

    const created = await runCli(['bootstrap', '--only', 'postgres', '--create-database'], { env });
    try {
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      expect(created.stdout).toContain('postgres + created the database');
      const again = await runCli(['bootstrap', '--only', 'postgres', '--create-database', '--json'], { env });
      expect(again.code).toBe(0);
      const report = JSON.parse(again.stdout) as { changed: boolean; stores: Array<{ ms: number }> };
      expect(report.changed).toBe(false);
      // Figures rounded to one decimal, not float noise.
      for (const s of report.stores) expect(Math.round(s.ms * 10) / 10).toBe(s.ms);
    } finally {
      const admin = new pg.Client({ connectionString: t.databaseUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await admin.end();
    }
  }, 180_000);

  test('user export --out refuses an existing file with one line and exit 2, leaving the file as it was', async ({ testEnv: t }) => {
    const dir = mkdtempSync(join(tmpdir(), 'pd-export-'));
    const file = join(dir, 'existing.jsonl');
    writeFileSync(file, 'keep me\n');
    const result = await runCli(['user', 'export', '00000000-0000-4000-8000-000000000000', '--out', file], { env: t.env });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('exists already; refusing to overwrite it');
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
  }, 60_000);
});
