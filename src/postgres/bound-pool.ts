import { attemptCheckedOut } from './idle-validating-driver-factory.js';

/** Slonik query methods: each is one statement, bounded as a whole. */
const QUERY_METHODS = new Set(['any', 'anyFirst', 'exists', 'many', 'manyFirst', 'maybeOne', 'maybeOneFirst', 'one', 'oneFirst', 'query']);
/** Methods that hold a connection for a handler: bounded while waiting for the connection and after the handler settles, and each statement inside is bounded. */
const HANDLER_METHODS = new Set(['transaction', 'connect']);

type Handler = (connection: object) => Promise<unknown>;

/**
 * Wraps a Slonik pool (or a transaction/pool connection) so that no call
 * waits longer than `ms` for PostgreSQL to answer, whatever the server does:
 * a frozen server (SIGSTOP, a stalled network) keeps its TCP connection open
 * and answers nothing, which neither the server's statement timeout nor TCP
 * keepalive (the kernel still acknowledges) can end.
 *
 * - a query method (`one`, `any`, `query` …) rejects with `onTimeout()` after `ms`;
 * - `transaction`/`connect` reject after `ms` spent getting the connection
 *   (plus `BEGIN`), and after `ms` spent on `COMMIT`/`ROLLBACK` once the handler
 *   settled; every statement the handler runs is bounded the same way. Once
 *   timed out, the connection is *abandoned*: any further statement through it
 *   is refused at once, so the handler fails and Slonik rolls the transaction
 *   back when the server answers again — a caller that got an error never has
 *   a transaction of its own commit later (the one window left is a `COMMIT`
 *   already sent when the bound passes: an ambiguous commit, as with any
 *   network database).
 *
 * A call on the pool itself whose connection failed its idle check
 * (src/postgres/idle-validating-driver-factory.ts: nothing of the caller's ran on it) is tried
 * again on another connection, up to `staleAttempts` times in all, within the same bound.
 */
export function boundPool<T extends object>(target: T, ms: number, onTimeout: () => Error, staleAttempts = 1): T {
  return bind(target, ms, onTimeout, undefined, staleAttempts);
}

/** `run` again while it fails in the idle check of its connection and `mayRetry()` holds, `attempts` times in all. */
async function retryStale<R>(run: () => Promise<R>, attempts: number, mayRetry: () => boolean = () => true): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    const result = await attemptCheckedOut(run);
    if (result.ok) return result.value;
    if (!result.inCheck || attempt >= attempts || !mayRetry()) throw result.error;
  }
}

/** `state` is the held connection's (undefined for the pool itself, which a timeout never abandons). */
function bind<T extends object>(target: T, ms: number, onTimeout: () => Error, state: { abandoned: boolean } | undefined, staleAttempts = 1): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      if (QUERY_METHODS.has(property)) {
        return (...args: unknown[]) => {
          if (state?.abandoned) return Promise.reject(onTimeout());
          const run = () => (value as (...a: unknown[]) => Promise<unknown>).apply(object, args);
          return race(state ? run : () => retryStale(run, staleAttempts), ms, onTimeout, state ?? { abandoned: false });
        };
      }
      if (HANDLER_METHODS.has(property)) {
        return (handler: Handler, ...rest: unknown[]) => {
          if (state?.abandoned) return Promise.reject(onTimeout());
          const open = (wrapped: Handler) => (value as (h: Handler, ...r: unknown[]) => Promise<unknown>).call(object, wrapped, ...rest);
          if (state) return withHandler(open, handler, ms, onTimeout);
          // Tried again only while the handler has not run: the check fails before Slonik calls it.
          return withHandler(
            (wrapped) => {
              let ran = false;
              const marked: Handler = (connection) => {
                ran = true;
                return wrapped(connection);
              };
              return retryStale(
                () => open(marked),
                staleAttempts,
                () => !ran,
              );
            },
            handler,
            ms,
            onTimeout,
          );
        };
      }
      return value.bind(object);
    },
  });
}

/** `run(promise factory)` bounded by `ms`; on timeout the shared state is marked abandoned. */
async function race<R>(run: () => Promise<R>, ms: number, onTimeout: () => Error, state: { abandoned: boolean }): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          state.abandoned = true;
          reject(onTimeout());
        }, ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function withHandler(open: (handler: Handler) => Promise<unknown>, handler: Handler, ms: number, onTimeout: () => Error): Promise<unknown> {
  const state = { abandoned: false };
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const arm = () => {
      timer = setTimeout(() => {
        state.abandoned = true;
        settled = true;
        reject(onTimeout());
      }, ms);
      timer.unref();
    };
    const disarm = () => clearTimeout(timer);
    arm(); // getting a connection and BEGIN
    open(async (connection) => {
      disarm();
      if (state.abandoned) throw onTimeout();
      try {
        return await handler(bind(connection, ms, onTimeout, state));
      } finally {
        if (state.abandoned && !settled) {
          // A statement inside already waited out the bound: answer now, the rollback happens when the server does.
          settled = true;
          reject(onTimeout());
        } else if (!settled) {
          arm(); // COMMIT or ROLLBACK
        }
      }
    }).then(
      (result) => {
        disarm();
        if (!settled) resolve(result);
        settled = true;
      },
      (error: unknown) => {
        disarm();
        if (!settled) reject(error instanceof Error ? error : new Error(String(error)));
        settled = true;
      },
    );
  });
}
