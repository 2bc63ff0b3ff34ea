import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { MigrationError } from '../migration-error.js';
import { splitSqlStatements } from '../split-sql-statements.js';

/**
 * Key of the advisory lock every migrator takes, transaction-scoped for
 * normal files; a fixed constant so any version of this package serialises
 * with any other on the same database.
 */
const LOCK_KEY = '7211903412305117';

/** How long a migrator waits for another one to finish, by default (a large index build can take minutes). */
export const DEFAULT_MIGRATION_LOCK_WAIT_MS = 15 * 60_000;

/**
 * Takes the lock by polling `tryLock` — never by waiting inside the server.
 * A migrator blocked in `pg_advisory_lock` holds a snapshot (and, in the
 * transactional path, an open transaction), and `CREATE INDEX CONCURRENTLY`
 * in the holder's no-transaction file waits for every older snapshot to end:
 * holder waits for waiter, waiter for holder, and PostgreSQL ends one of them
 * with "deadlock detected" (manual, CREATE INDEX, "Building Indexes
 * Concurrently"). Between attempts the waiter holds nothing.
 * @throws MigrationError `MIGRATION_FAILED` after `waitMs` without the lock
 */
async function acquire(tryLock: () => Promise<boolean>, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let pause = 50; ; pause = Math.min(pause * 2, 1_000)) {
    if (await tryLock()) return;
    if (Date.now() >= deadline) throw new MigrationError('MIGRATION_FAILED', `another migrator held the migration lock for more than ${waitMs} ms`);
    await sleep(pause);
  }
}

/**
 * Runs `work` in a transaction holding the migration lock
 * (`pg_try_advisory_xact_lock`: released by COMMIT or ROLLBACK, never leaked);
 * while another migrator holds it, the transaction is rolled back and tried again.
 */
export async function inLockedTransaction<T>(client: pg.Client, work: () => Promise<T>, waitMs = DEFAULT_MIGRATION_LOCK_WAIT_MS): Promise<T> {
  await acquire(async () => {
    await client.query('BEGIN');
    const { rows } = await client
      .query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock($1::bigint) AS locked`, [LOCK_KEY])
      .catch(async (error: unknown) => {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      });
    if (rows[0]?.locked) return true;
    await client.query('ROLLBACK');
    return false;
  }, waitMs);
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Runs `work` holding the session-scoped migration lock, for files that must run outside a transaction. */
async function inSessionLock<T>(client: pg.Client, work: () => Promise<T>, waitMs: number): Promise<T> {
  await acquire(
    async () => (await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS locked`, [LOCK_KEY])).rows[0]?.locked === true,
    waitMs,
  );
  try {
    return await work();
  } finally {
    await client.query(`SELECT pg_advisory_unlock($1::bigint)`, [LOCK_KEY]).catch(() => undefined);
  }
}

/** One migration script to run: `up` of a pending file or `down` of the newest applied one. */
export interface MigrationScript {
  readonly sql: string;
  /** `-- platform-data:no-transaction`: statement by statement under the session lock. */
  readonly noTransaction: boolean;
}

export interface LockedMigrationRun<T> {
  /** Whether the script runs outside a transaction (known before the lock: it decides which lock). */
  readonly noTransaction: boolean;
  /** Decided again under the lock: what to run, or undefined when another migrator already did it. */
  target(): Promise<T | undefined>;
  script(target: T): MigrationScript;
  /** The error for a failed statement (names the file and line). */
  failure(target: T, statement: string, error: unknown): Error;
  /** Updates the ledger after the script ran (insert for up, delete for down), under the same lock. */
  record(target: T, ms: number): Promise<unknown>;
}

/**
 * The one run path of `up` and `down`: take the lock (transaction-scoped, or
 * session-scoped for a no-transaction file), decide again under it what to
 * run, run it, update the ledger.
 * @returns the target and how long its script ran, or undefined when there was nothing left to do
 */
export function runLockedMigration<T>(
  client: pg.Client,
  run: LockedMigrationRun<T>,
  waitMs = DEFAULT_MIGRATION_LOCK_WAIT_MS,
): Promise<{ target: T; ms: number } | undefined> {
  const execute = async (): Promise<{ target: T; ms: number } | undefined> => {
    const target = await run.target();
    if (target === undefined) return undefined;
    const script = run.script(target);
    const started = performance.now();
    for (const statement of script.noTransaction ? splitSqlStatements(script.sql) : [script.sql]) {
      try {
        await client.query(statement);
      } catch (error) {
        throw run.failure(target, statement, error);
      }
    }
    const ms = performance.now() - started;
    await run.record(target, ms);
    return { target, ms };
  };
  return run.noTransaction ? inSessionLock(client, execute, waitMs) : inLockedTransaction(client, execute, waitMs);
}
