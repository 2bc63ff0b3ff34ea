import { createServer } from 'node:http';
import { describe, expect } from 'vitest';
import { createHealthHandler, createPlatform, loadConfig } from '../../src/index.js';
import { databaseUrl, withAdmin, RUN_ID } from '../support/postgres-template.js';
import { inject } from 'vitest';
import { runCli } from '../support/run-cli.js';
import { test } from '../support/fixtures.js';

/** A database with nothing in it, so bootstrap has real work to do. */
async function emptyDatabase(name: string): Promise<string> {
  const admin = inject('stack').urls.postgres;
  if (!admin) throw new Error('no PostgreSQL');
  await withAdmin(admin, (c) => c.query(`CREATE DATABASE ${name}`));
  return databaseUrl(admin, name);
}

describe('bootstrap and health', () => {
  let env: Record<string, string>;
  const dbName = `pd_test_${RUN_ID}_boot`;

  test.beforeAll(async ({ testEnv: t }) => {
    const url = await emptyDatabase(dbName);
    const app = new URL(url);
    app.username = 'platform_app';
    app.password = new URL(url).password;
    env = { ...t.env, DATABASE_URL: url, DATABASE_APP_URL: app.toString() };
  });
  test.afterAll(async () => {
    const admin = inject('stack').urls.postgres;
    if (admin) await withAdmin(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  });

  test('health reports an unprovisioned store before bootstrap, and exits 1', async () => {
    const result = await runCli(['health', '--json'], { env });
    const health = JSON.parse(result.stdout) as { status: string; stores: Array<{ store: string; status: string; provisioned?: boolean; pending?: string[] }> };
    expect(result.code).toBe(1);
    const pg = health.stores.find((s) => s.store === 'postgres');
    expect(pg?.status).toBe('up');
    expect(pg?.provisioned).toBe(false);
    expect(pg?.pending?.length).toBeGreaterThan(0);
  });

  test('bootstrap provisions all four stores; the second run reports no changes; health is then all green', async () => {
    const first = await runCli(['bootstrap', '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    const one = JSON.parse(first.stdout) as { changed: boolean; stores: Array<{ store: string; status: string; changed: boolean }> };
    expect(one.changed).toBe(true);
    expect(one.stores.map((s) => `${s.store}:${s.status}`).sort()).toEqual([
      'mongo:provisioned',
      'postgres:provisioned',
      'qdrant:provisioned',
      'redis:provisioned',
    ]);

    const second = await runCli(['bootstrap'], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('bootstrap: no changes (already provisioned)');

    const health = await runCli(['health', '--json'], { env });
    expect(health.code).toBe(0);
    const parsed = JSON.parse(health.stdout) as { status: string; stores: Array<{ store: string; status: string; provisioned?: boolean }> };
    expect(parsed.status).toBe('up');
    expect(parsed.stores.map((s) => `${s.store}:${s.status}:${String(s.provisioned)}`).sort()).toEqual([
      'mongo:up:true',
      'postgres:up:true',
      'qdrant:up:true',
      'redis:up:true',
    ]);
  });

  test('bootstrap exits 2 on bad configuration and 1 when a store fails, still reporting the others', async () => {
    const bad = await runCli(['bootstrap'], { env: { ...env, PG_POOL_SIZE: 'x' } });
    expect(bad.code).toBe(2);
    const down = await runCli(['bootstrap', '--json', '--wait', '1'], { env: { ...env, QDRANT_URL: 'http://127.0.0.1:1' } });
    expect(down.code).toBe(1);
    const report = JSON.parse(down.stdout) as { stores: Array<{ store: string; status: string }> };
    expect(report.stores.find((s) => s.store === 'qdrant')?.status).toBe('failed');
    expect(report.stores.find((s) => s.store === 'postgres')?.status).toBe('provisioned');
  });

  test('createHealthHandler answers 200 with JSON when healthy and 503 when a store is down, without secrets', async () => {
    const platform = createPlatform(loadConfig(env));
    await platform.start();
    const server = createServer(createHealthHandler(platform));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const ok = await fetch(`http://127.0.0.1:${port}/`);
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as { status: string; stores: unknown[] };
      expect(body.status).toBe('up');
      expect(body.stores).toHaveLength(4);
      await platform.stop();
      const down = await fetch(`http://127.0.0.1:${port}/`);
      expect(down.status).toBe(503);
      const text = await down.text();
      expect(text).not.toMatch(/PLATFORM_ENCRYPTION|password/i);
    } finally {
      await new Promise((r) => server.close(r));
      await platform.stop();
    }
  });
});
