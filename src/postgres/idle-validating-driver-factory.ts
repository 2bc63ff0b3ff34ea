import { AsyncLocalStorage } from 'node:async_hooks';
import { createPgDriverFactory } from '@slonik/pg-driver';
import type { DriverClient, DriverFactory } from 'slonik';
import { StoreUnavailableError } from '../errors.js';
import { withTimeout } from '../with-timeout.js';

/**
 * A pooled connection that failed its check before use (the server closed it, or it stopped answering
 * while idle). Nothing of the caller's ran on it, so {@link boundPool} tries another connection; a caller
 * sees it only when every attempt failed, as the StoreUnavailableError it is.
 */
export class StaleConnectionError extends StoreUnavailableError {}

/** Per call on the pool: whether its connection is being checked (set while `SELECT 1` runs, and left set when it fails). */
const checking = new AsyncLocalStorage<{ inCheck: boolean }>();

/**
 * Runs one attempt of a pool call and tells whether it failed in the idle check, i.e. before anything of the
 * caller's ran. The error is not always a {@link StaleConnectionError}: when the server closed the
 * connection, Slonik's own listener on the connection's `error` event may answer first (BackendTerminatedError).
 */
export async function attemptCheckedOut<R>(run: () => Promise<R>): Promise<{ ok: true; value: R } | { ok: false; error: unknown; inCheck: boolean }> {
  const state = { inCheck: false };
  try {
    return { ok: true, value: await checking.run(state, run) };
  } catch (error) {
    return { ok: false, error, inCheck: state.inCheck || error instanceof StaleConnectionError };
  }
}

/**
 * Slonik's pg driver with validation of idle connections on checkout — the
 * check HikariCP runs (`isValid()` on a connection idle longer than
 * `aliveBypassWindowMs`): the first statement on a connection that rested at
 * least `afterMs` in the pool is preceded by `SELECT 1`, answered within
 * `timeoutMs`, or the connection is destroyed and {@link boundPool} takes
 * another. It catches what the pool cannot see by itself: a connection the
 * server closed (restart, `pg_terminate_backend`, `idle_session_timeout`) whose
 * close the client has not read yet, and one a firewall or NAT dropped
 * silently. A new connection, or one used within `afterMs`, costs nothing extra.
 *
 * At the driver, not in an interceptor: Slonik's interceptors see a new
 * connection id at every checkout, so they cannot tell how long a connection rested.
 */
export function idleValidatingDriverFactory(options: { readonly afterMs: number; readonly timeoutMs: number; readonly url: string }): DriverFactory {
  const pg = createPgDriverFactory();
  return async (configuration) => {
    const driver = await pg(configuration);
    return {
      createClient: async () => {
        const client = await driver.createClient();
        // Slonik removes its own 'error' listener when it destroys a client, but the connection can still report
        // the server's termination after that (a destroy that outlived its graceful timeout): never an unhandled event.
        client.on('error', () => undefined);
        let releasedAt: number | undefined;
        let checkDue = false;
        const validate = async (): Promise<void> => {
          const state = checking.getStore();
          if (state) state.inCheck = true;
          try {
            await withTimeout(client.query('SELECT 1'), options.timeoutMs, () => new Error(`no answer within ${options.timeoutMs} ms`));
          } catch (error) {
            // Destroyed by Slonik: the check ran before the caller's statement, so that statement fails and the pool discards the client.
            throw new StaleConnectionError('postgres', `an idle pooled connection failed its check before use: ${String(error)}`, {
              url: options.url,
              cause: error,
            });
          }
          if (state) state.inCheck = false;
        };
        const validating: DriverClient = {
          ...client,
          acquire: () => {
            client.acquire();
            checkDue = releasedAt !== undefined && Date.now() - releasedAt >= options.afterMs;
          },
          release: async () => {
            releasedAt = Date.now();
            return client.release();
          },
          query: async (query, values, queryOptions) => {
            if (checkDue) {
              checkDue = false;
              await validate();
            }
            return client.query(query, values, queryOptions);
          },
        };
        return validating;
      },
    };
  };
}
