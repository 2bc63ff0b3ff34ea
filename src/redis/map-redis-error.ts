import { PlatformError, StoreUnavailableError } from '../errors.js';
import { RedisCommandTimeoutError } from './shared-command-timeout.js';

interface RedisLikeError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
}

/** Redis answered a command with an error reply; `reply` is the reply's prefix (`WRONGTYPE`, `NOSCRIPT`, `OOM`, `ERR` …). */
export class RedisReplyError extends PlatformError<'REDIS_REPLY'> {
  readonly reply: string;
  constructor(message: string, reply: string, cause: unknown) {
    super('REDIS_REPLY', message, { cause });
    this.reply = reply;
  }
}

const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|Connection is closed|Stream isn't writeable|connect ETIMEDOUT|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|enableOfflineQueue/i;

/**
 * Maps ioredis errors: connection failures, command timeouts, retries
 * exhausted and LOADING/MASTERDOWN replies → StoreUnavailableError; other
 * server replies (ReplyError: WRONGTYPE, NOSCRIPT, OOM …) → PlatformError with
 * code `REDIS_REPLY` whose `reply` names the server's error prefix (e.g. `WRONGTYPE`).
 */
export function mapRedisError(error: unknown, url?: string): PlatformError {
  if (error instanceof PlatformError) return error;
  if (error instanceof RedisCommandTimeoutError) {
    return new StoreUnavailableError('redis', `no reply within ${error.timeoutMs} ms`, { url, cause: error, reason: 'timeout' });
  }
  const e = (error ?? {}) as RedisLikeError;
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (name === 'MaxRetriesPerRequestError' || UNAVAILABLE.test(message) || (typeof e.code === 'string' && e.code.startsWith('E'))) {
    return new StoreUnavailableError('redis', message.split('\n')[0]?.slice(0, 200) ?? 'unavailable', { url, cause: error });
  }
  if (name === 'ReplyError') {
    return new RedisReplyError(message.slice(0, 300), /^([A-Z]+)\b/.exec(message)?.[1] ?? 'ERR', error);
  }
  return new PlatformError('REDIS_ERROR', message.slice(0, 300), { cause: error });
}

/**
 * Runs one Redis operation, mapping whatever it throws through {@link mapRedisError}. The one wrapper of this folder; every store has its `with<Store>Errors`.
 * Not an `async` function: it is on the session-validation path (one per request), where each extra async frame is
 * a measurable share of a GET's cost; a synchronous throw still comes back as a rejection.
 */
export function withRedisErrors<T>(work: () => Promise<T>, url?: string): Promise<T> {
  try {
    return work().then(undefined, (error: unknown) => {
      throw mapRedisError(error, url);
    });
  } catch (error) {
    return Promise.reject(mapRedisError(error, url));
  }
}
