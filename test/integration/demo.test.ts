import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/run-cli.js';

/** What a demo run leaves on the machine's servers under its own names (issue 19: ~19 BullMQ keys and rows in a shared `platform_demo` were left each run). */
async function leftovers(run: string): Promise<{ databases: number; redisKeys: number }> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
  await client.connect();
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const { rowCount } = await client.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [`platform_demo_${run}`]);
    await redis.connect();
    return { databases: rowCount ?? 0, redisKeys: (await redis.keys(`demo${run}:*`)).length };
  } finally {
    await client.end();
    redis.disconnect();
  }
}

describe('the demo (npm start)', () => {
  it('walks the whole story on the local stack and exits 0 within two minutes', async () => {
    // The README's first command is `npm start` = build + `platform-data demo`; the global setup built dist/.
    const result = await runCli(['demo'], { env: { LOG_LEVEL: 'warn' }, timeoutMs: 150_000 });
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(120_000);
    const story = result.stdout;
    for (const heading of [
      'Local stack',
      'Bootstrap',
      'An organization and its owner',
      'Invite a member',
      'Log in',
      'Refresh',
      'Replay the old refresh token',
      'An encrypted integration token',
      'An API key and its rate limit',
      'A conversation with messages',
      'Knowledge',
      'The audit trail',
      'Erase the member',
      'Health',
    ]) {
      expect(story).toContain(heading);
    }
    expect(story).toMatch(/"password123" refused: .*common/);
    expect(story).toMatch(/refused \(reused\); the whole family is revoked/);
    expect(story).toMatch(/5 calls allowed, then limited/);
    expect(story).toMatch(/\d\.\d{3} {2}data-retention/);
    expect(story).toContain('auth.refresh.reuse_detected');
    expect(story).toMatch(/verifyErased: nothing of the user remains/);
    expect(story).toMatch(/Done in \d+\.\d s\./);
    // The run's own database (platform_demo_<run>) is named in the story and gone afterwards, as are its Redis keys.
    const run = /platform_demo_([0-9a-f]{6})/.exec(story)?.[1];
    expect(run).toBeDefined();
    expect(await leftovers(run!)).toEqual({ databases: 0, redisKeys: 0 });
  }, 180_000);
});
