import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { StoreUnavailableError } from '../../../src/errors.js';
import { mapRedisError } from '../../../src/redis/map-redis-error.js';
import { applySharedCommandTimeout, RedisCommandTimeoutError } from '../../../src/redis/shared-command-timeout.js';
import { test } from '../../support/fixtures.js';

// The bound ioredis's `commandTimeout` gives (ioredis 6 Command#setTimeout: an unsettled command is rejected
// with "Command timed out" once the time has passed; the reply that comes later is ignored), given here by one
// timer per client. Checked against a real redis-server frozen with SIGSTOP: its socket stays open and silent.
// 2 s, not less: the 10 000 commands sent at once below must all be answered within the bound even when the
// whole suite loads the machine (at 300 ms one full-suite run timed some of them out, correctly).
const BOUND_MS = 2_000;

describe('applySharedCommandTimeout', () => {
  test('answers pass through; a frozen server rejects every outstanding command once, typed, then the client works again', async ({ privateRedis }) => {
    const client = new Redis({ port: privateRedis.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    applySharedCommandTimeout(client, BOUND_MS);
    try {
      await client.connect();
      // Many commands at once, more than the queue keeps before compacting: every one gets its own answer.
      const keys = Array.from({ length: 10_000 }, (_, i) => `sct:${i}`);
      await Promise.all(keys.map((k, i) => client.set(k, String(i))));
      const values = await Promise.all(keys.map((k) => client.get(k)));
      expect(values).toEqual(keys.map((_, i) => String(i)));

      privateRedis.freeze();
      let thawed = false;
      try {
        const started = performance.now();
        const [get, mget, pipeline] = await Promise.allSettled([
          client.get('sct:1'),
          client.mget('sct:2', 'sct:3'),
          client.pipeline().get('sct:4').incr('sct:5').exec(),
        ]);
        const waited = performance.now() - started;
        expect([get.status, mget.status, pipeline.status]).toEqual(['rejected', 'rejected', 'fulfilled']);
        // A pipeline answers each command's outcome as [error, result] (ioredis Pipeline#exec).
        const pipelineErrors = (pipeline as PromiseFulfilledResult<[Error | null, unknown][]>).value.map(([error]) => error);
        expect(pipelineErrors).toHaveLength(2);
        for (const reason of [(get as PromiseRejectedResult).reason as unknown, (mget as PromiseRejectedResult).reason as unknown, ...pipelineErrors]) {
          expect(reason).toBeInstanceOf(RedisCommandTimeoutError);
          expect((reason as Error).message).toBe('Command timed out');
          const mapped = mapRedisError(reason);
          expect(mapped).toBeInstanceOf(StoreUnavailableError);
          expect((mapped as StoreUnavailableError).reason).toBe('timeout');
        }
        // Not before the bound (a bound that fired early would fail healthy commands).
        expect(waited).toBeGreaterThanOrEqual(BOUND_MS - 1);
        privateRedis.thaw();
        thawed = true;
      } finally {
        if (!thawed) privateRedis.thaw();
      }
      // The late replies of the rejected commands are matched to them and dropped; new commands get their own.
      expect(await client.get('sct:9')).toBe('9');
      expect(await client.incr('sct:9')).toBe(10);
    } finally {
      client.disconnect();
    }
  });
});
