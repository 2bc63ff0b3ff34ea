import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from '../support/run-cli.js';

/** A Node older than 24 on this machine (the system one), if any. */
function oldNode(): string | undefined {
  for (const candidate of ['/usr/local/bin/node', '/usr/bin/node']) {
    if (!existsSync(candidate)) continue;
    const version = execFileSync(candidate, ['-p', 'process.versions.node']).toString().trim();
    if (Number(version.split('.')[0]) < 24) return candidate;
  }
  return undefined;
}

/**
 * How long the CLI takes to start and print its help right now: on a loaded
 * machine module loading alone can take many seconds, and the bound below is
 * about the store waits, not about the scheduler.
 */
async function startupMs(): Promise<number> {
  return (await runCli(['help'])).ms;
}

describe('platform-data CLI', () => {
  it('health with an unreachable DATABASE_URL exits non-zero well before the drivers default 30 s timeouts, naming the store, without password or stack trace', async () => {
    const startup = await startupMs();
    const result = await runCli(['health', '--only', 'postgres'], { env: { DATABASE_URL: 'postgres://x:hunter2@127.0.0.1:1/x' } });
    expect(result.code).toBe(1);
    // Bounded, not fast: drivers default to ~30 s; beyond the CLI's own start-up, 20 s holds on a fully loaded machine (speed is in bench/).
    expect(result.ms - startup).toBeLessThan(20_000);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    // The cause (the driver's connect error, not a bare "not started") and the next step.
    expect(lines[0]).toMatch(/^error: postgres is down: .*ECONNREFUSED.*\(check DATABASE_URL, or start local stores with `platform-data stack up`\)$/);
    expect(result.stdout + result.stderr).not.toContain('hunter2');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('health of all four stores reports each one and fails when any is down', async () => {
    const startup = await startupMs();
    const result = await runCli(['health', '--json'], {
      env: {
        DATABASE_URL: 'postgres://x@127.0.0.1:1/x',
        MONGODB_URI: 'mongodb://127.0.0.1:1/x?directConnection=true',
        QDRANT_URL: 'http://127.0.0.1:1',
        REDIS_URL: 'redis://127.0.0.1:1',
      },
    });
    expect(result.code).toBe(1);
    expect(result.ms - startup).toBeLessThan(20_000);
    const health = JSON.parse(result.stdout) as { status: string; stores: Array<{ store: string; status: string }> };
    expect(health.status).toBe('down');
    expect(health.stores.map((s) => `${s.store}:${s.status}`).sort()).toEqual(['mongo:down', 'postgres:down', 'qdrant:down', 'redis:down']);
  });

  it('bad configuration exits 2 with one line naming every invalid variable', async () => {
    const result = await runCli(['health'], { env: { PG_POOL_SIZE: 'many', LOG_LEVEL: 'loud' } });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('PG_POOL_SIZE');
    expect(result.stderr).toContain('LOG_LEVEL');
  });

  it('a bad option, an unknown store or an out-of-range variable exits 2 (usage or configuration) with one line naming it', async () => {
    const unknownOption = await runCli(['health', '--no-such-option']);
    expect(unknownOption.code).toBe(2);
    const unknownStore = await runCli(['health', '--only', 'postgres,foo']);
    expect({ code: unknownStore.code, stderr: unknownStore.stderr.trim() }).toEqual({
      code: 2,
      stderr: 'error: Invalid input: --only: unknown store "foo" (expected postgres, mongo, qdrant, redis)',
    });
    const range = await runCli(['health'], { env: { BCRYPT_COST: '99' } });
    expect({ code: range.code, stderr: range.stderr.trim() }).toEqual({
      code: 2,
      stderr: 'error: Invalid configuration: BCRYPT_COST: must be a whole number from 4 to 15, got 99',
    });
  });

  const node20 = oldNode();
  it.skipIf(!node20)('an older Node gets one clear line saying what to run instead', async () => {
    const result = await runCli(['health'], { nodeBinary: node20 });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/needs Node\.js >= 24.*npx platform-data/);
  });

  it('stack up --json prints four URLs and four backends, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'stack', 'up', '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', MONGODB_URI: '', QDRANT_URL: '' },
    });
    let stdout = '';
    const firstLine = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0] ?? '');
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const printed = JSON.parse(firstLine) as { urls: Record<string, string | null>; backends: Record<string, string> };
    expect(Object.keys(printed.urls).sort()).toEqual(['mongo', 'postgres', 'qdrant', 'redis']);
    expect(Object.keys(printed.backends).sort()).toEqual(['mongo', 'postgres', 'qdrant', 'redis']);
    expect(printed.backends.postgres).not.toBe('unavailable');
    expect(printed.backends.redis).not.toBe('unavailable');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
