import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTicker } from '../../src/deadline-ticker.js';

interface Wait {
  settled: boolean;
  readonly id: number;
}

describe('DeadlineTicker: one interval timer for many waits under one bound', () => {
  afterEach(() => vi.useRealTimers());

  it('expires each unsettled wait once, never before its bound, while thousands of settled waits pass through', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const expired: number[] = [];
    const ticker = new DeadlineTicker<Wait>(
      1000,
      (w) => w.settled,
      (w) => {
        w.settled = true;
        expired.push(w.id);
      },
    );
    const stuck: Wait = { settled: false, id: 0 };
    ticker.add(stuck);
    // 10 000 waits behind the stuck one that get their answers (more than the queue keeps before compacting).
    for (let i = 1; i <= 10_000; i++) {
      const w: Wait = { settled: false, id: i };
      ticker.add(w);
      w.settled = true;
    }
    await vi.advanceTimersByTimeAsync(500);
    const later: Wait = { settled: false, id: -1 };
    ticker.add(later);
    await vi.advanceTimersByTimeAsync(450);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual([0]);
    await vi.advanceTimersByTimeAsync(400);
    expect(expired).toEqual([0]);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual([0, -1]);
    // Nothing outstanding: the timer is gone after its next tick.
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(0);
  });
});
