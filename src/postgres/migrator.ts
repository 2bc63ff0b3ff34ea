import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import { MigrationError } from './migration-error.js';
import { mapPostgresError } from './map-postgres-error.js';
import { readSchemaSnapshot } from './migrator/schema-snapshot.js';
import { SchemaDriftCheck, type DriftReport } from './migrator/schema-drift-check.js';
import { MigrationScaffold } from './migrator/migration-scaffold.js';
import { inLockedTransaction, runLockedMigration } from './migrator/locked-migration-run.js';
import { checksumMismatches, refuseOnMismatch, type AppliedMigration, type ChecksumMismatch } from './migrator/migration-ledger.js';
import { readMigrationFiles, type MigrationFile } from './migrator/migration-source.js';

export { NO_TRANSACTION_MARKER } from './migrator/migration-source.js';
export type { MigrationFile } from './migrator/migration-source.js';
export type { AppliedMigration, ChecksumMismatch } from './migrator/migration-ledger.js';
export type { DriftReport } from './migrator/schema-drift-check.js';

/** The package's `sql/` folder: `../../sql` from both `src/postgres/` and `dist/postgres/`. */
export const DEFAULT_MIGRATIONS_DIRECTORY = fileURLToPath(new URL('../../sql/', import.meta.url));

export const LEDGER_TABLE = 'platform_migrations';

const LEDGER_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface MigratorOptions {
  /** Owner connection URL of the database to migrate. */
  readonly url: string;
  /** Folder of `NNNN_name.sql` / `NNNN_name.down.sql` files (default: the package's `sql/`). */
  readonly directory?: string;
  /**
   * Table that records what this folder applied (default `platform_migrations`,
   * the package's own). An application's folder gets a ledger of its own
   * (see {@link appLedgerName}), so its numbering never meets the package's.
   */
  readonly ledger?: string;
  readonly logger?: Logger;
}

export interface MigrationStatus {
  readonly version: number;
  readonly name: string;
  /** `changed`: applied, but the file differs from what was applied; `missing`: applied, file gone. */
  readonly state: 'applied' | 'pending' | 'changed' | 'missing';
  readonly appliedAt: Date | undefined;
}

/**
 * The default ledger of an application's migrations folder: `app_` and the
 * folder's name in snake_case (`migrations` → `app_migrations`), so two
 * folders keep two ledgers and neither meets the package's `platform_migrations`.
 */
export function appLedgerName(directory: string): string {
  const base = basename(resolve(directory))
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return `app_${base || 'migrations'}`.slice(0, 63);
}

const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** 1-based line of a 1-based character position in `text`. */
function lineOf(text: string, position: unknown): number | undefined {
  const pos = typeof position === 'string' ? Number.parseInt(position, 10) : undefined;
  if (pos === undefined || !Number.isFinite(pos)) return undefined;
  return text.slice(0, pos - 1).split('\n').length;
}

/**
 * Applies the numbered SQL files of a folder to one PostgreSQL database and
 * records each in the ledger `platform_migrations` with its SHA-256 checksum.
 *
 * Each file runs in its own transaction under `pg_advisory_xact_lock`, and
 * the ledger is re-read under that lock, so any number of migrators may run
 * at once: each file is applied exactly once and the others skip it. A file
 * whose first line is {@link NO_TRANSACTION_MARKER} runs statement by
 * statement under the session-level form of the same lock.
 *
 * @example
 * await using migrator = new Migrator({ url: process.env.DATABASE_URL! });
 * const { applied } = await migrator.up();
 */
export class Migrator implements AsyncDisposable {
  readonly #url: string;
  readonly #directory: string;
  readonly #ledger: string;
  readonly #logger: Logger;
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;

  constructor(options: MigratorOptions) {
    this.#url = options.url;
    this.#directory = options.directory ?? DEFAULT_MIGRATIONS_DIRECTORY;
    this.#ledger = options.ledger ?? LEDGER_TABLE;
    if (!LEDGER_NAME.test(this.#ledger)) {
      throw new MigrationError(
        'MIGRATION_INVALID_FILES',
        `ledger table name "${this.#ledger}" must be a-z, 0-9 and "_", starting with a letter or "_", at most 63 characters`,
      );
    }
    this.#logger = options.logger ?? silentLogger;
  }

  get directory(): string {
    return this.#directory;
  }

  /** The ledger table of this folder. */
  get ledger(): string {
    return this.#ledger;
  }

  /**
   * Reads and checks the migration files (names, numbering, no duplicates).
   * @throws MigrationError `MIGRATION_INVALID_FILES`
   */
  async files(): Promise<MigrationFile[]> {
    return readMigrationFiles(this.#directory);
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    this.#connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 10_000 });
      // An idle client whose server went away emits 'error'; the next query reports it instead of crashing the process.
      client.on('error', (error) => this.#logger.warn('migrator connection error', { error }));
      try {
        await client.connect();
      } catch (error) {
        throw mapPostgresError(error, redactUrl(this.#url));
      }
      await client.query(`SET client_min_messages = warning`);
      this.#client = client;
      return client;
    })();
    try {
      return await this.#connecting;
    } finally {
      this.#connecting = undefined;
    }
  }

  async #ledgerExists(client: pg.Client): Promise<boolean> {
    const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [`public.${this.#ledger}`]);
    return rows[0]?.exists ?? false;
  }

  async #readLedger(client: pg.Client): Promise<AppliedMigration[]> {
    if (!(await this.#ledgerExists(client))) return [];
    const { rows } = await client.query<{ version: number; name: string; checksum: string; applied_at: Date; execution_ms: number }>(
      `SELECT version, name, checksum, applied_at, execution_ms FROM ${this.#ledger} ORDER BY version`,
    );
    return rows.map((r) => ({ version: r.version, name: r.name, checksum: r.checksum, appliedAt: r.applied_at, executionMs: r.execution_ms }));
  }

  #failure(file: MigrationFile, direction: 'up' | 'down', script: string, error: unknown): MigrationError {
    const pgError = error as { message?: unknown; position?: unknown };
    const line = lineOf(script, pgError.position);
    const fileName = `${file.id}${direction === 'down' ? '.down' : ''}.sql`;
    const message = typeof pgError.message === 'string' ? pgError.message : String(error);
    return new MigrationError('MIGRATION_FAILED', `${fileName}${line === undefined ? '' : ` line ${line}`}: ${message}`, {
      versions: [file.version],
      cause: error,
    });
  }

  /**
   * Applies every pending migration in order.
   * @throws MigrationError when an applied file changed or vanished, a new file is numbered below an applied one, or a file fails (that file is rolled back; earlier ones stay applied)
   * @throws StoreUnavailableError when the database cannot be reached
   */
  async up(): Promise<{ applied: string[] }> {
    const files = await this.files();
    const client = await this.#connect();
    // The ledger is created under the lock: concurrent CREATE TABLE IF NOT EXISTS can otherwise collide on pg_type.
    const ledger = await inLockedTransaction(client, async () => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.#ledger} (
          version       integer PRIMARY KEY,
          name          text NOT NULL,
          checksum      text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
          applied_at    timestamptz NOT NULL DEFAULT now(),
          execution_ms  integer NOT NULL
        )`);
      return this.#readLedger(client);
    });
    refuseOnMismatch(checksumMismatches(files, ledger));
    const appliedVersions = new Set(ledger.map((m) => m.version));
    const highest = Math.max(0, ...appliedVersions);
    const pending = files.filter((f) => !appliedVersions.has(f.version));
    const outOfOrder = pending.filter((f) => f.version < highest);
    if (outOfOrder.length > 0) {
      throw new MigrationError(
        'MIGRATION_OUT_OF_ORDER',
        `migrations ${outOfOrder.map((f) => f.id).join(', ')} are numbered below the applied ${String(highest).padStart(4, '0')}; renumber them after it`,
        { versions: outOfOrder.map((f) => f.version) },
      );
    }
    const applied: string[] = [];
    for (const file of pending) {
      if (await this.#applyOne(client, file)) applied.push(file.id);
    }
    return { applied };
  }

  /** Applies `file` unless another migrator did meanwhile; true when this call applied it. */
  async #applyOne(client: pg.Client, file: MigrationFile): Promise<boolean> {
    const ran = await runLockedMigration(client, {
      noTransaction: file.noTransaction,
      target: async () => {
        const { rows } = await client.query<{ checksum: string }>(`SELECT checksum FROM ${this.#ledger} WHERE version = $1`, [file.version]);
        const row = rows[0];
        if (row && row.checksum !== file.checksum)
          refuseOnMismatch([{ version: file.version, name: file.name, problem: 'changed', appliedChecksum: row.checksum, fileChecksum: file.checksum }]);
        return row === undefined ? file : undefined;
      },
      script: (f) => f,
      failure: (f, statement, error) => this.#failure(f, 'up', statement, error),
      record: (f, ms) =>
        client.query(`INSERT INTO ${this.#ledger} (version, name, checksum, execution_ms) VALUES ($1, $2, $3, $4)`, [
          f.version,
          f.name,
          f.checksum,
          Math.round(ms),
        ]),
    });
    if (ran) this.#logger.info(file.noTransaction ? 'migration applied (no transaction)' : 'migration applied', { migration: file.id, ms: Math.round(ran.ms) });
    return ran !== undefined;
  }

  /**
   * Reverts the `n` most recently applied migrations, newest first, each with its down file.
   * @throws MigrationError `MIGRATION_NO_DOWN` when a migration has no down file (nothing after it is reverted), or when its up file changed
   */
  async down(n = 1): Promise<{ reverted: string[] }> {
    if (!Number.isInteger(n) || n < 1) throw new MigrationError('MIGRATION_FAILED', `down needs a positive whole number of migrations, got ${n}`);
    const files = await this.files();
    const byVersion = new Map(files.map((f) => [f.version, f]));
    const client = await this.#connect();
    const reverted: string[] = [];
    for (let i = 0; i < n; i++) {
      if (!(await this.#ledgerExists(client))) break;
      const done = await this.#revertLatest(client, byVersion);
      if (!done) break;
      reverted.push(done);
    }
    return { reverted };
  }

  async #revertLatest(client: pg.Client, byVersion: ReadonlyMap<number, MigrationFile>): Promise<string | undefined> {
    const latest = async () => {
      const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
        `SELECT version, name, checksum FROM ${this.#ledger} ORDER BY version DESC LIMIT 1`,
      );
      const row = rows[0];
      if (!row) return undefined;
      const file = byVersion.get(row.version);
      if (!file) refuseOnMismatch([{ version: row.version, name: row.name, problem: 'missing', appliedChecksum: row.checksum, fileChecksum: undefined }]);
      else if (file.checksum !== row.checksum)
        refuseOnMismatch([{ version: row.version, name: row.name, problem: 'changed', appliedChecksum: row.checksum, fileChecksum: file.checksum }]);
      if (!file?.down)
        throw new MigrationError('MIGRATION_NO_DOWN', `${file?.id ?? row.version} has no down file: reverting it is not safe`, { versions: [row.version] });
      return { file, down: file.down };
    };
    // Peek outside the lock only to learn whether the newest down runs in a transaction.
    const peek = await latest();
    if (!peek) return undefined;
    const ran = await runLockedMigration(client, {
      noTransaction: peek.down.noTransaction,
      target: latest,
      script: (t) => t.down,
      failure: (t, statement, error) => this.#failure(t.file, 'down', statement, error),
      record: (t) => client.query(`DELETE FROM ${this.#ledger} WHERE version = $1`, [t.file.version]),
    });
    if (!ran) return undefined;
    this.#logger.info(peek.down.noTransaction ? 'migration reverted (no transaction)' : 'migration reverted', { migration: ran.target.file.id });
    return ran.target.file.id;
  }

  /** Every migration file and every ledger entry, with its state. */
  async status(): Promise<MigrationStatus[]> {
    const files = await this.files();
    const ledger = await this.#readLedger(await this.#connect());
    const applied = new Map(ledger.map((m) => [m.version, m]));
    const rows: MigrationStatus[] = files.map((f) => {
      const a = applied.get(f.version);
      return { version: f.version, name: f.name, state: !a ? 'pending' : a.checksum === f.checksum ? 'applied' : 'changed', appliedAt: a?.appliedAt };
    });
    const known = new Set(files.map((f) => f.version));
    for (const a of ledger) if (!known.has(a.version)) rows.push({ version: a.version, name: a.name, state: 'missing', appliedAt: a.appliedAt });
    return rows.sort((x, y) => x.version - y.version);
  }

  /** The ledger, oldest first (empty when nothing was ever applied). */
  async history(): Promise<AppliedMigration[]> {
    const ledger = await this.#readLedger(await this.#connect());
    return ledger.sort((a, b) => a.appliedAt.getTime() - b.appliedAt.getTime() || a.version - b.version);
  }

  /** Applied migrations whose file changed or vanished since (empty = valid). */
  async validate(): Promise<ChecksumMismatch[]> {
    const files = await this.files();
    return checksumMismatches(files, await this.#readLedger(await this.#connect()));
  }

  /**
   * Compares the live schema with one built from zero: creates a scratch
   * database, applies every file to it, compares both catalogs (tables,
   * columns and types, indexes, constraints, policies, triggers, enums,
   * functions, grants) and drops the scratch database.
   * @throws StoreUnavailableError, or PlatformError when the owner may not create databases (needs CREATEDB)
   */
  async check(): Promise<DriftReport> {
    const drift = new SchemaDriftCheck(await this.#connect(), this.#url, this.#logger);
    return drift.run(async (scratchUrl) => {
      // An application's folder is applied after the package's, so its scratch schema starts from the package's.
      if (this.#ledger !== LEDGER_TABLE) {
        await using base = new Migrator({ url: scratchUrl });
        await base.up();
      }
      await using scratch = new Migrator({ url: scratchUrl, directory: this.#directory, ledger: this.#ledger });
      await scratch.up();
      // Awaited here: `scratch` closes its connection when this block ends.
      return await readSchemaSnapshot(await scratch.#connect());
    });
  }

  /**
   * Writes the next-numbered `NNNN_name.sql` and `NNNN_name.down.sql` stubs.
   * @throws MigrationError `MIGRATION_INVALID_FILES` for a name that is not snake_case
   */
  async create(name: string): Promise<{ up: string; down: string }> {
    return new MigrationScaffold(this.#directory).create(name, await this.files());
  }

  /** Closes the connection; the migrator may be used again afterwards (it reconnects). */
  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
