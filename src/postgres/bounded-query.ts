import type pg from 'pg';

/** One statement on a raw `pg` pool: a `QueryConfig`, or a submittable such as ScopedPipelineQuery. */
export type BoundedQuery = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

interface Pending {
  readonly deadline: number;
  readonly reject: (error: Error) => void;
}

/**
 * The hot path's bound ({@link PostgresConnection.preparedOne}, `scopedQuery`):
 * `pool.query(config)`, rejected with `onTimeout()` once `ms` have passed without
 * an answer (a frozen server keeps its connection open and silent) — at most one
 * tick (`ms / 20`, at most 50 ms) late.
 *
 * The same bound {@link boundPool} gives a pool's query methods, made cheap for
 * one-row reads: no Proxy lookup, no stale-connection retry loop with its async
 * context (nothing to retry here: {@link IdleValidatingPgPool} takes another client
 * itself when an idle one fails its check), and no timer per call — the calls in
 * flight share one interval timer, running only while there are some. Per call
 * that is a Set insertion and deletion instead of setTimeout/clearTimeout and a
 * Promise.race (bench/rows/user-lookup-profile.ts prices the difference).
 */
export function boundedQuery(pool: pg.Pool, ms: number, onTimeout: () => Error): BoundedQuery {
  const pending = new Set<Pending>();
  const tickMs = Math.max(1, Math.min(50, Math.floor(ms / 20)));
  let ticker: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = performance.now();
    for (const call of pending) {
      if (call.deadline <= now) {
        pending.delete(call);
        call.reject(onTimeout());
      }
    }
    if (pending.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };
  return (config) =>
    new Promise<pg.QueryResult>((resolve, reject) => {
      const call: Pending = { deadline: performance.now() + ms, reject };
      pending.add(call);
      if (ticker === undefined) {
        ticker = setInterval(tick, tickMs);
        ticker.unref();
      }
      pool.query(config).then(
        (result) => {
          // Already answered by the bound when no longer pending: a late result is dropped.
          if (pending.delete(call)) resolve(result);
        },
        (error: unknown) => {
          if (pending.delete(call)) reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
}
