import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  CheckIntegrityConstraintViolationError,
  ConnectionError,
  IdleTransactionTimeoutError,
  ForeignKeyIntegrityConstraintViolationError,
  NotNullIntegrityConstraintViolationError,
  SchemaValidationError,
  StatementTimeoutError,
  UniqueIntegrityConstraintViolationError,
} from 'slonik';
import { ConflictError, PlatformError, StoreUnavailableError, type StoreUnavailableReason, TenantAccessError, ValidationError } from '../errors.js';

interface PgLikeError {
  code?: unknown;
  constraint?: unknown;
  column?: unknown;
  table?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** The first SQLSTATE (5 characters) or Node network code found along the cause chain. */
function findCode(error: unknown): { code: string | undefined; pg: PgLikeError | undefined } {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current && typeof current === 'object'; depth++) {
    const e = current as PgLikeError;
    if (typeof e.code === 'string' && (/^[0-9A-Z]{5}$/.test(e.code) || e.code.startsWith('E'))) {
      return { code: e.code, pg: e };
    }
    current = e.cause;
  }
  return { code: undefined, pg: undefined };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

/**
 * Maps a Slonik / pg error to the package's error classes. Already-mapped
 * errors pass through unchanged.
 *
 * SQLSTATE → class: 23505 → ConflictError (constraint), 23503/23514/23P01 →
 * ConflictError (constraint), 23502/22P02/22001/22007/22008/22023/22021 → ValidationError,
 * 42501 (incl. row-level security WITH CHECK) → TenantAccessError,
 * class 08, 57P01–57P03, 53300, 3D000, 28xxx and socket errors → StoreUnavailableError,
 * 40001/40P01 → ConflictError (`serialization_failure` / `deadlock_detected`, retryable).
 *
 * @param url redacted URL to name in StoreUnavailableError
 */
export function mapPostgresError(error: unknown, url?: string): PlatformError {
  if (error instanceof PlatformError) return error;
  if (error instanceof SchemaValidationError) {
    return new PlatformError(
      'RESULT_INVALID',
      `Query result does not match its schema: ${error.issues.map((i) => `${(i.path ?? []).map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.')}: ${i.message}`).join('; ')}`,
      { cause: error },
    );
  }
  const { code, pg } = findCode(error);
  const constraint = typeof pg?.constraint === 'string' ? pg.constraint : undefined;
  const column = typeof pg?.column === 'string' ? pg.column : undefined;
  const message = typeof pg?.message === 'string' ? pg.message : error instanceof Error ? error.message : String(error);

  if (error instanceof UniqueIntegrityConstraintViolationError || code === '23505') {
    return new ConflictError(`Duplicate value violates ${constraint ?? 'a unique constraint'}`, { store: 'postgres', constraint, cause: error });
  }
  if (error instanceof ForeignKeyIntegrityConstraintViolationError || code === '23503') {
    return new ConflictError(`Reference violates ${constraint ?? 'a foreign key'}`, { store: 'postgres', constraint, cause: error });
  }
  if (error instanceof CheckIntegrityConstraintViolationError || code === '23514' || code === '23P01') {
    return new ConflictError(`Value violates ${constraint ?? 'a check constraint'}`, { store: 'postgres', constraint, cause: error });
  }
  if (error instanceof NotNullIntegrityConstraintViolationError || code === '23502') {
    return new ValidationError([{ path: column ?? '', message: 'is required', code: '23502' }], { cause: error });
  }
  if (code === '22P02' || code === '22001' || code === '22007' || code === '22008' || code === '22023' || code === '22003' || code === '22021') {
    return new ValidationError([{ path: column ?? '', message, code }], { cause: error });
  }
  if (code === '42501') {
    return new TenantAccessError(message.includes('row-level security') ? 'Row-level security denied the write' : 'Permission denied', { cause: error });
  }
  if (code === '40001' || code === '40P01') {
    return new ConflictError(code === '40001' ? 'Serialization failure, retry the transaction' : 'Deadlock detected, retry the transaction', {
      store: 'postgres',
      constraint: code === '40001' ? 'serialization_failure' : 'deadlock_detected',
      cause: error,
    });
  }
  if (
    // By class first: Slonik wraps a terminated backend (pg_terminate_backend, a restart, a dropped
    // socket) in these, and they carry no SQLSTATE. The message patterns below are only for the raw
    // pg driver and pg-pool errors, which have neither a class nor a code (pg-pool's connect timeout is
    // `Error('timeout expired')`, also through Slonik's pools).
    error instanceof ConnectionError ||
    error instanceof BackendTerminatedError ||
    error instanceof BackendTerminatedUnexpectedlyError ||
    error instanceof IdleTransactionTimeoutError ||
    (code !== undefined &&
      (code.startsWith('08') || code.startsWith('28') || ['57P01', '57P02', '57P03', '53300', '3D000'].includes(code) || NETWORK_CODES.has(code))) ||
    /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Query read timeout|^timeout expired$/i.test(message)
  ) {
    return new StoreUnavailableError('postgres', message.split('\n')[0] ?? 'unavailable', { url, cause: error, reason: unavailableReason(code, message) });
  }
  if (error instanceof StatementTimeoutError || code === '57014') {
    return new PlatformError('STATEMENT_TIMEOUT', 'Statement timed out or was cancelled', { cause: error });
  }
  return new PlatformError('POSTGRES_ERROR', message, { cause: error });
}

/**
 * Awaits `work` and maps whatever it throws through {@link mapPostgresError},
 * so owner-pool methods surface the same errors as `withTenant` ones. The one
 * wrapper of this folder; every store has its `with<Store>Errors`.
 * @throws PlatformError subclasses from mapPostgresError
 */
export async function withPostgresErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapPostgresError(error);
  }
}

function unavailableReason(code: string | undefined, message: string): StoreUnavailableReason | undefined {
  if (code === '3D000') return 'database_missing';
  if (code?.startsWith('28')) return 'auth_failed';
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown_host';
  if (code === 'ETIMEDOUT' || /timeout/i.test(message)) return 'timeout';
  return undefined;
}
