import { once } from 'node:events';
import { lookup } from 'node:dns/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { BackendTerminatedError, BackendTerminatedUnexpectedlyError, ConnectionError, IdleTransactionTimeoutError } from 'slonik';
import { ConflictError, StoreUnavailableError, ValidationError } from '../../../src/errors.js';
import { mapPostgresError } from '../../../src/postgres/map-postgres-error.js';

// Issue 16 item 5: a terminated backend reached callers as PlatformError(POSTGRES_ERROR), because the
// mapper matched message text and Slonik's BackendTerminatedUnexpectedlyError carries no SQLSTATE.
// SQLSTATEs: PostgreSQL manual, Appendix A "PostgreSQL Error Codes" (class 08 connection exception,
// 57P01 admin_shutdown — what pg_terminate_backend sends, 57P03 cannot_connect_now).
describe('mapPostgresError maps by class and SQLSTATE', () => {
  const pgError = (code: string) => Object.assign(new Error('server said no'), { code });

  it.each([
    ['BackendTerminatedUnexpectedlyError', new BackendTerminatedUnexpectedlyError(new Error('Connection terminated unexpectedly'))],
    ['BackendTerminatedError', new BackendTerminatedError(pgError('57P01'))],
    ['IdleTransactionTimeoutError', new IdleTransactionTimeoutError(pgError('25P03'))],
    ['ConnectionError', new ConnectionError('cannot connect')],
    ['57P01 admin_shutdown', pgError('57P01')],
    ['57P03 cannot_connect_now', pgError('57P03')],
    ['08006 connection_failure', pgError('08006')],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
  ])('%s → StoreUnavailableError', (_, error) => {
    expect(mapPostgresError(error)).toBeInstanceOf(StoreUnavailableError);
  });

  it('a class wins over a misleading message', () => {
    const terminated = new BackendTerminatedUnexpectedlyError(new Error('duplicate key value violates unique constraint'));
    expect(mapPostgresError(terminated)).toBeInstanceOf(StoreUnavailableError);
  });

  it('23505 → ConflictError, 22021 → ValidationError', () => {
    expect(mapPostgresError(pgError('23505'))).toBeInstanceOf(ConflictError);
    expect(mapPostgresError(pgError('22021'))).toBeInstanceOf(ValidationError);
  });
});

// The reason comes from the code along the cause chain, never from message text. Codes: PostgreSQL manual,
// Appendix A (3D000 invalid_catalog_name, 28P01 invalid_password, 28000 invalid_authorization_specification);
// Node's errors documentation, "Common system errors" (ECONNREFUSED, ETIMEDOUT) and dns (ENOTFOUND, EAI_AGAIN).
describe('mapPostgresError: the reason a store is unavailable', () => {
  const reasonOf = (error: unknown) => {
    const mapped = mapPostgresError(error);
    expect(mapped).toBeInstanceOf(StoreUnavailableError);
    return (mapped as StoreUnavailableError).reason;
  };
  /** pg's DatabaseError as pg-protocol builds it from the server's ErrorResponse. */
  const serverError = (code: string, message: string) => Object.assign(new pg.DatabaseError(message, 0, 'error'), { code, severity: 'FATAL' });
  /** A real refused connection: a port that was just listening and is now closed. */
  async function refusedSocketError(): Promise<Error> {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const socket = connect(port, '127.0.0.1');
    const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [Error];
    socket.destroy();
    return error;
  }

  it('database missing and authentication failed come from the server SQLSTATE (pg.DatabaseError, also inside Slonik’s ConnectionError)', () => {
    expect(reasonOf(serverError('3D000', 'database "nope" does not exist'))).toBe('database_missing');
    expect(reasonOf(serverError('28P01', 'password authentication failed for user "app"'))).toBe('auth_failed');
    expect(reasonOf(new ConnectionError('cannot connect', { cause: serverError('28000', 'role "x" does not exist') }))).toBe('auth_failed');
  });

  it('a refused socket is `refused`, directly and as the cause Slonik wraps it in', async () => {
    const refused = await refusedSocketError();
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(reasonOf(refused)).toBe('refused');
    expect(reasonOf(new ConnectionError(refused.message, { cause: refused }))).toBe('refused');
    // Node's connect to a host with several addresses rejects with an AggregateError of one error per address.
    expect(reasonOf(new ConnectionError('connect failed', { cause: new AggregateError([refused], 'all addresses failed') }))).toBe('refused');
  });

  it('an unknown host is `unknown_host` (a real resolver error)', async () => {
    const error = (await lookup('no-such-host.invalid').catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(error.code);
    expect(reasonOf(new ConnectionError(error.message, { cause: error }))).toBe('unknown_host');
  });

  it('ETIMEDOUT is `timeout`', () => {
    // Node's shape for a connect that timed out in the kernel (errno, code, syscall, address, port).
    const timedOut = Object.assign(new Error('connect ETIMEDOUT 10.255.255.1:5432'), { errno: -110, code: 'ETIMEDOUT', syscall: 'connect' });
    expect(reasonOf(new ConnectionError(timedOut.message, { cause: timedOut }))).toBe('timeout');
  });

  it('message text alone gives no reason: no code along the chain, no reason', () => {
    // pg's own connect timeout is Error('timeout expired') with no code; a message that merely mentions a code is not one.
    expect(reasonOf(new ConnectionError('timeout expired', { cause: new Error('timeout expired') }))).toBeUndefined();
    expect(reasonOf(new ConnectionError('connect ECONNREFUSED 127.0.0.1:5432'))).toBeUndefined();
    expect(reasonOf(new BackendTerminatedUnexpectedlyError(new Error('Connection terminated unexpectedly: ENOTFOUND')))).toBeUndefined();
  });
});
