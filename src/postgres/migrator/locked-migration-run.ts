import type pg from 'pg';
import { MigrationError } from '../migration-error.js';
import { splitSqlStatements } from '../split-sql-statements.js';
import type { MigrationFile, MigrationScript } from './migration-source.js';

/**
 * Key of the advisory lock every migrator takes; a fixed constant so any
 * version of this package serialises with any other on the same database.
 */
const LOCK_KEY = '7211903412305117';

/** Runs `fn` in a transaction holding the migration lock (`pg_advisory_xact_lock`). */
export async function inMigrationLock<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [LOCK_KEY]);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Runs `fn` holding the session-level form of the same lock (for files that cannot run in a transaction). */
async function inSessionLock<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  await client.query(`SELECT pg_advisory_lock($1::bigint)`, [LOCK_KEY]);
  try {
    return await fn();
  } finally {
    await client.query(`SELECT pg_advisory_unlock($1::bigint)`, [LOCK_KEY]).catch(() => undefined);
  }
}

/** One direction of one migration, decided again under the lock. */
export interface MigrationStep {
  readonly file: MigrationFile;
  readonly direction: 'up' | 'down';
  readonly script: MigrationScript;
}

/**
 * The one run path of `up` and `down`: takes the lock (transaction-scoped, or
 * session-scoped for a no-transaction script), asks `next` — under the lock,
 * so concurrent migrators agree — which step to run, runs its script
 * (statement by statement outside a transaction) and lets `bookkeep` update
 * the ledger in the same transaction.
 *
 * @returns the step run, or undefined when `next` found nothing left to do
 * @throws MigrationError `MIGRATION_FAILED` naming the file and line; the transaction is rolled back
 */
export async function runLockedStep(
  client: pg.Client,
  noTransaction: boolean,
  next: () => Promise<MigrationStep | undefined>,
  bookkeep: (step: MigrationStep, executionMs: number) => Promise<void>,
): Promise<MigrationStep | undefined> {
  const run = async (): Promise<MigrationStep | undefined> => {
    const step = await next();
    if (!step) return undefined;
    const started = performance.now();
    const statements = noTransaction ? splitSqlStatements(step.script.sql) : [step.script.sql];
    for (const statement of statements) {
      try {
        await client.query(statement);
      } catch (error) {
        throw failure(step, statement, error);
      }
    }
    await bookkeep(step, performance.now() - started);
    return step;
  };
  return noTransaction ? inSessionLock(client, run) : inMigrationLock(client, run);
}

function failure(step: MigrationStep, statement: string, error: unknown): MigrationError {
  const pgError = error as { message?: unknown; position?: unknown };
  const line = lineOf(statement, pgError.position);
  const fileName = `${step.file.id}${step.direction === 'down' ? '.down' : ''}.sql`;
  const message = typeof pgError.message === 'string' ? pgError.message : String(error);
  return new MigrationError('MIGRATION_FAILED', `${fileName}${line === undefined ? '' : ` line ${line}`}: ${message}`, {
    versions: [step.file.version],
    cause: error,
  });
}

/** 1-based line of a 1-based character position in `text`. */
function lineOf(text: string, position: unknown): number | undefined {
  const pos = typeof position === 'string' ? Number.parseInt(position, 10) : undefined;
  if (pos === undefined || !Number.isFinite(pos)) return undefined;
  return text.slice(0, pos - 1).split('\n').length;
}
