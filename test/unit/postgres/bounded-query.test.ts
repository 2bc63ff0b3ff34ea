import type pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { boundedQuery } from '../../../src/postgres/bounded-query.js';

/** A pool whose query() answers only when the test says so (a frozen server answers nothing). */
function controlledPool() {
  const calls: { resolve: (r: pg.QueryResult) => void; reject: (e: Error) => void }[] = [];
  const pool = {
    query: () =>
      new Promise<pg.QueryResult>((resolve, reject) => {
        calls.push({ resolve, reject });
      }),
  } as unknown as pg.Pool;
  return { pool, calls };
}

const result = { rows: [{ n: 1 }] } as unknown as pg.QueryResult;

describe('boundedQuery: the hot path bound, one shared ticker', () => {
  afterEach(() => vi.useRealTimers());

  it('answers with the result when the server answers in time, and with the pool error when it fails', async () => {
    const { pool, calls } = controlledPool();
    const query = boundedQuery(pool, 1000, () => new Error('no answer'));
    const first = query({ text: 'SELECT 1' });
    const second = query({ text: 'SELECT 1' });
    calls[0]!.resolve(result);
    calls[1]!.reject(new Error('server said no'));
    await expect(first).resolves.toBe(result);
    await expect(second).rejects.toThrow('server said no');
  });

  it('refuses with onTimeout() once the bound has passed (at most one tick, ms / 20, late), and drops a later answer', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const { pool, calls } = controlledPool();
    const query = boundedQuery(pool, 1000, () => new Error('no answer within 1000 ms'));
    const late = query({ text: 'SELECT 1' });
    const settled = vi.fn();
    late.then(settled, settled);
    await vi.advanceTimersByTimeAsync(950);
    expect(settled).not.toHaveBeenCalled();
    const onTime = query({ text: 'SELECT 1' });
    await vi.advanceTimersByTimeAsync(100);
    await expect(late).rejects.toThrow('no answer within 1000 ms');
    calls[0]!.resolve(result);
    calls[1]!.resolve(result);
    await expect(onTime).resolves.toBe(result);
    expect(settled).toHaveBeenCalledTimes(1);
  });

  it('stops its ticker when nothing is in flight (an idle pool keeps no timer running)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const { pool, calls } = controlledPool();
    const query = boundedQuery(pool, 1000, () => new Error('no answer'));
    const pending = query({ text: 'SELECT 1' });
    expect(vi.getTimerCount()).toBe(1);
    calls[0]!.resolve(result);
    await pending;
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(0);
  });
});
