import type { Cluster, Command, Redis } from 'ioredis';

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
 * Commands are noted in the order they are sent, with the same bound, so their
 * deadlines are in that order too: each tick (every `ms / 20`, 1 to 50 ms)
 * drops the settled commands from the front and rejects the unsettled ones
 * whose deadline has passed, stopping at the first still within its bound —
 * none behind it can have passed theirs. A command is rejected at most one
 * tick late. The timer runs only while commands are outstanding, and never
 * keeps the process alive. A command sent again (offline queue, reconnection,
 * cluster redirection) keeps its first deadline, like `commandTimeout`.
 *
 * Not for blocking commands (BLPOP, BullMQ's connections): those are made on
 * connections without a command bound.
 */
export function applySharedCommandTimeout(client: Redis | Cluster, ms: number): void {
  let commands: Command[] = [];
  let deadlines: number[] = [];
  let head = 0;
  let ticker: NodeJS.Timeout | undefined;
  const tickMs = Math.max(1, Math.min(50, Math.floor(ms / 20)));
  const tick = () => {
    const now = performance.now();
    while (head < commands.length) {
      const command = commands[head]!;
      if (!command.isSettled) {
        if (deadlines[head]! > now) break;
        command.reject(new RedisCommandTimeoutError(ms));
      }
      head += 1;
    }
    if (head === commands.length) {
      commands = [];
      deadlines = [];
      head = 0;
      clearInterval(ticker);
      ticker = undefined;
    } else if (head > 4096 && head * 2 > commands.length) {
      commands = commands.slice(head);
      deadlines = deadlines.slice(head);
      head = 0;
    }
  };
  const send = client.sendCommand;
  client.sendCommand = function (this: typeof client, command: Command, ...rest: unknown[]) {
    commands.push(command);
    deadlines.push(performance.now() + ms);
    if (ticker === undefined) {
      ticker = setInterval(tick, tickMs);
      ticker.unref();
    }
    return (send as (this: typeof client, command: Command, ...rest: unknown[]) => unknown).call(this, command, ...rest);
  } as typeof client.sendCommand;
}
