import type { Cluster, Command, Redis } from 'ioredis';
import { DeadlineTicker } from '../deadline-ticker.js';

/**
 * What a Redis command that met REDIS_COMMAND_TIMEOUT_MS is rejected with: the
 * message ioredis's own `commandTimeout` uses, and a class of its own so
 * {@link mapRedisError} recognises it by class.
 */
export class RedisCommandTimeoutError extends Error {
  override readonly name = 'RedisCommandTimeoutError';
  constructor(readonly timeoutMs: number) {
    super('Command timed out');
  }
}

/**
 * Bounds every command of `client` by `ms`, as ioredis's `commandTimeout`
 * option does — the command's promise is rejected once `ms` have passed
 * without a reply (a frozen server keeps its socket open and silent) — but
 * with one interval timer per client instead of a `setTimeout` and
 * `clearTimeout` per command. With 16 callers sending MGET on one connection,
 * the same client with `commandTimeout` ran at 0.75–0.86× the throughput of
 * one without it (docs/benchmarks.md); the session check is one such command
 * per request.
 *
 * Commands are bounded by a {@link DeadlineTicker}: rejected at most one
 * tick (`ms / 20`, 1 to 50 ms) late, never early; the timer runs only while
 * commands are outstanding. A command sent again (offline queue, reconnection,
 * cluster redirection) keeps its first deadline, like `commandTimeout`.
 *
 * Not for blocking commands (BLPOP, BullMQ's connections): those are made on
 * connections without a command bound.
 */
export function applySharedCommandTimeout(client: Redis | Cluster, ms: number): void {
  const ticker = new DeadlineTicker<Command>(
    ms,
    (command) => command.isSettled,
    (command) => command.reject(new RedisCommandTimeoutError(ms)),
  );
  const send = client.sendCommand;
  client.sendCommand = function (this: typeof client, command: Command, ...rest: unknown[]) {
    ticker.add(command);
    return (send as (this: typeof client, command: Command, ...rest: unknown[]) => unknown).call(this, command, ...rest);
  } as typeof client.sendCommand;
}
