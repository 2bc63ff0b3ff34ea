import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';

// The consumer path, as an application team meets it: the packed tarball installed
// into a project outside this repository, that project's own vitest suite run
// against it. Never skipped: a machine that cannot run it fails here, naming why.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples/consumer-app');
const stack = inject('stack');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

function run(command: string, args: readonly string[], cwd: string, env: Record<string, string | undefined> = {}, timeoutMs = 240_000): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Math.round(performance.now() - started) });
    });
  });
}

/** The failure message of a step: its output tail, so a CI log says what broke. */
const tail = (r: Run) => `exit ${r.code}\n${(r.stdout + r.stderr).split('\n').slice(-40).join('\n')}`;

/** A Node older than 24 on this machine (the system one), to check the import guard. */
function olderNode(): string | undefined {
  return ['/usr/bin/node', '/usr/local/bin/node'].find(
    (p) => existsSync(p) && Number(execFileSync(p, ['-p', 'process.versions.node']).toString().split('.')[0]) < 24,
  );
}

let scratch: string | undefined;
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('consumer project (packed tarball, outside the repository)', () => {
  it('installs platform-data from the tarball and passes examples/consumer-app/ own vitest suite', { timeout: 600_000 }, async () => {
    expect(stack.urls.postgres, 'the consumer suite needs PostgreSQL (see the [stack] lines)').toBeDefined();
    expect(stack.urls.redis, 'the consumer suite needs Redis (see the [stack] lines)').toBeDefined();
    const timings: Record<string, number> = {};
    scratch = await mkdtemp(join(tmpdir(), 'platform-data-consumer-'));
    expect(scratch.startsWith(ROOT)).toBe(false);

    // dist/ is built by the global setup; --ignore-scripts skips a second build by `prepare`.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], ROOT);
    expect(pack.code, tail(pack)).toBe(0);
    timings.pack = pack.ms;
    const tarball = join(scratch, (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0]!.filename);

    const project = join(scratch, 'consumer-app');
    await cp(EXAMPLE, project, { recursive: true, filter: (source) => !/[\\/](node_modules|test-results)([\\/]|$)/.test(source) });
    const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    manifest.dependencies['platform-data'] = `file:${tarball}`;
    await writeFile(join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    // --prefer-offline: every package this repository installed is in the npm cache already.
    const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], project);
    expect(install.code, tail(install)).toBe(0);
    timings.install = install.ms;

    // The suite runs on this process's Node 24, against this run's servers; CI=true passes through.
    const suite = await run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run'], project, {
      DATABASE_URL: stack.urls.postgres,
      REDIS_URL: stack.urls.redis,
      PLATFORM_TEST_CONTAINERS: '0',
    });
    timings.suite = suite.ms;
    const report = JSON.parse(await readFile(join(project, 'test-results/vitest.json'), 'utf8').catch(() => '{}')) as {
      numPassedTests?: number;
      numFailedTests?: number;
    };
    expect({ code: suite.code, failed: report.numFailedTests }, tail(suite)).toEqual({ code: 0, failed: 0 });
    expect(report.numPassedTests).toBe(4);

    // db create without --dir would write into node_modules: refused (exit 2) with the command to use.
    const cli = join(project, 'node_modules/.bin/platform-data');
    const refused = await run(process.execPath, [cli, 'db', 'create', 'add_widgets'], project);
    expect(refused.code, tail(refused)).toBe(2);
    expect(refused.stderr).toContain('db create <name> --dir migrations');
    expect(await readdir(join(project, 'node_modules/platform-data/sql'))).not.toContainEqual(expect.stringContaining('add_widgets'));
    const created = await run(process.execPath, [cli, 'db', 'create', 'add_widgets', '--dir', 'migrations'], project);
    expect(created.code, tail(created)).toBe(0);
    expect(await readdir(join(project, 'migrations'))).toContain('0002_add_widgets.sql');

    // On a Node older than 24, importing the package fails at once and says what to do.
    const old = olderNode();
    if (old) {
      const imported = await run(old, ['--input-type=module', '-e', "await import('platform-data')"], project);
      expect(imported.code).not.toBe(0);
      expect(imported.stderr).toMatch(/platform-data needs Node\.js >= 24 .*node@24/);
    }
    process.stderr.write(`[consumer] pack ${timings.pack} ms, install ${timings.install} ms, suite ${timings.suite} ms\n`);
  });
});
