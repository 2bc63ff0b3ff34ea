import type pg from 'pg';
import { DeadlineTicker } from '../deadline-ticker.js';

/** One statement on a raw `pg` pool: a `QueryConfig`, or a submittable such as ScopedPipelineQuery. */
export type BoundedQuery = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

interface Pending {
  settled: boolean;
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
 * flight share one {@link DeadlineTicker}, running only while there are some. Per
 * call that is one entry in its queue instead of setTimeout/clearTimeout and a
 * Promise.race (bench/rows/user-lookup-profile.ts prices the difference).
 */
export function boundedQuery(pool: pg.Pool, ms: number, onTimeout: () => Error): BoundedQuery {
  const ticker = new DeadlineTicker<Pending>(
    ms,
    (call) => call.settled,
    (call) => {
      call.settled = true;
      call.reject(onTimeout());
    },
  );
  return (config) =>
    new Promise<pg.QueryResult>((resolve, reject) => {
      const call: Pending = { settled: false, reject };
      ticker.add(call);
      pool.query(config).then(
        (result) => {
          // Already answered by the bound when settled: a late result is dropped.
          if (call.settled) return;
          call.settled = true;
          resolve(result);
        },
        (error: unknown) => {
          if (call.settled) return;
          call.settled = true;
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
}
