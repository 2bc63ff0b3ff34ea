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

/**
 * The first SQLSTATE (5 characters) or Node system-error code (`ECONNREFUSED` …) along the cause
 * chain: `cause` links (Slonik wraps the driver's error), and the `errors` of an AggregateError
 * (Node's connect to a host with several addresses fails with one error per address).
 */
function findCode(error: unknown): { code: string | undefined; pg: PgLikeError | undefined } {
  const queue: unknown[] = [error];
  for (let seen = 0; seen < 12 && queue.length > 0; seen++) {
    const current = queue.shift();
    if (!current || typeof current !== 'object') continue;
    const e = current as PgLikeError;
    if (typeof e.code === 'string' && (/^[0-9A-Z]{5}$/.test(e.code) || e.code.startsWith('E'))) {
      return { code: e.code, pg: e };
    }
    queue.push(e.cause);
    if (current instanceof AggregateError) queue.push(...(current.errors as unknown[]));
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
    return new StoreUnavailableError('postgres', message.split('\n')[0] ?? 'unavailable', { url, cause: error, reason: unavailableReason(code) });
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

/**
 * Why the store is unavailable, from the code found along the cause chain only — never from message
 * text, which the driver may word differently (or localise) from one release to the next. An error
 * with no code says nothing: pg's own connect timeout (`Error('timeout expired')`, no code, no class)
 * has no reason, while Node's `ETIMEDOUT` is `timeout`.
 */
function unavailableReason(code: string | undefined): StoreUnavailableReason | undefined {
  if (code === undefined) return undefined;
  if (code === '3D000') return 'database_missing';
  if (code.startsWith('28')) return 'auth_failed';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown_host';
  if (code === 'ETIMEDOUT') return 'timeout';
  return undefined;
}
