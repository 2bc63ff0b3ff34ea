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
