import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import { mapPostgresError } from './map-postgres-error.js';
import { MigrationError } from './migration-error.js';
import { inMigrationLock, runLockedStep, type MigrationStep } from './migrator/locked-migration-run.js';
import { checksumMismatches, MigrationLedger, refuseMismatches, type AppliedMigration, type ChecksumMismatch } from './migrator/migration-ledger.js';
import { readMigrationFiles, type MigrationFile } from './migrator/migration-source.js';
import { scaffoldMigration } from './migrator/scaffold-migration.js';
import { checkSchemaDrift, type DriftReport } from './schema-drift.js';
import { readSchemaSnapshot } from './schema-snapshot.js';

/** The package's `sql/` folder: `../../sql` from both `src/postgres/` and `dist/postgres/`. */
export const DEFAULT_MIGRATIONS_DIRECTORY = fileURLToPath(new URL('../../sql/', import.meta.url));

export interface MigratorOptions {
  /** Owner connection URL of the database to migrate. */
  readonly url: string;
  /** Folder of `NNNN_name.sql` / `NNNN_name.down.sql` files (default: the package's `sql/`). */
  readonly directory?: string;
  readonly logger?: Logger;
}

export interface MigrationStatus {
  readonly version: number;
  readonly name: string;
  /** `changed`: applied, but the file differs from what was applied; `missing`: applied, file gone. */
  readonly state: 'applied' | 'pending' | 'changed' | 'missing';
  readonly appliedAt: Date | undefined;
}

const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Applies the numbered SQL files of a folder to one PostgreSQL database and
 * records each in the ledger `platform_migrations` with its SHA-256 checksum.
 * The parts live in `migrator/`: the file source, the ledger, the one locked
 * run path of up and down, and scaffolding; the drift check sits beside the
 * schema snapshot (`schema-drift.ts`).
 *
 * Each file runs in its own transaction under `pg_advisory_xact_lock`, and
 * the ledger is re-read under that lock, so any number of migrators may run
 * at once: each file is applied exactly once and the others skip it. A file
 * whose first line is `-- platform-data:no-transaction` runs statement by
 * statement under the session-level form of the same lock.
 *
 * @example
 * await using migrator = new Migrator({ url: process.env.DATABASE_URL! });
 * const { applied } = await migrator.up();
 */
export class Migrator implements AsyncDisposable {
  readonly #url: string;
  readonly #directory: string;
  readonly #logger: Logger;
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;

  constructor(options: MigratorOptions) {
    this.#url = options.url;
    this.#directory = options.directory ?? DEFAULT_MIGRATIONS_DIRECTORY;
    this.#logger = options.logger ?? silentLogger;
  }

  get directory(): string {
    return this.#directory;
  }

  /**
   * Reads and checks the migration files (names, numbering, no duplicates).
   * @throws MigrationError `MIGRATION_INVALID_FILES`
   */
  files(): Promise<MigrationFile[]> {
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

  async #ledger(): Promise<{ client: pg.Client; ledger: MigrationLedger }> {
    const client = await this.#connect();
    return { client, ledger: new MigrationLedger(client) };
  }

  /**
   * Applies every pending migration in order.
   * @throws MigrationError when an applied file changed or vanished, a new file is numbered below an applied one, or a file fails (that file is rolled back; earlier ones stay applied)
   * @throws StoreUnavailableError when the database cannot be reached
   */
  async up(): Promise<{ applied: string[] }> {
    const files = await this.files();
    const { client, ledger } = await this.#ledger();
    const applied = await inMigrationLock(client, async () => {
      await ledger.create();
      return ledger.read();
    });
    refuseMismatches(checksumMismatches(files, applied));
    const appliedVersions = new Set(applied.map((m) => m.version));
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
    const result: string[] = [];
    for (const file of pending) {
      // Another migrator may have applied it since the ledger was read: decided again under the lock.
      const next = async (): Promise<MigrationStep | undefined> => {
        const row = await ledger.find(file.version);
        if (row) refuseMismatches(checksumMismatches([file], [row]));
        return row ? undefined : { file, direction: 'up', script: file };
      };
      const step = await runLockedStep(client, file.noTransaction, next, async (s, ms) => {
        await ledger.record(s.file, ms);
        this.#logger.info(`migration applied${file.noTransaction ? ' (no transaction)' : ''}`, { migration: file.id, ms: Math.round(ms) });
      });
      if (step) result.push(file.id);
    }
    return { applied: result };
  }

  /**
   * Reverts the `n` most recently applied migrations, newest first, each with its down file.
   * @throws MigrationError `MIGRATION_NO_DOWN` when a migration has no down file (nothing after it is reverted), or when its up file changed
   */
  async down(n = 1): Promise<{ reverted: string[] }> {
    if (!Number.isInteger(n) || n < 1) throw new MigrationError('MIGRATION_FAILED', `down needs a positive whole number of migrations, got ${n}`);
    const files = await this.files();
    const { client, ledger } = await this.#ledger();
    const latest = async (): Promise<MigrationStep | undefined> => {
      const row = await ledger.latest();
      if (!row) return undefined;
      refuseMismatches(checksumMismatches(files, [row]));
      const file = files.find((f) => f.version === row.version)!;
      if (!file.down) throw new MigrationError('MIGRATION_NO_DOWN', `${file.id} has no down file: reverting it is not safe`, { versions: [row.version] });
      return { file, direction: 'down', script: file.down };
    };
    const reverted: string[] = [];
    while (reverted.length < n && (await ledger.exists())) {
      // Peeked outside the lock only to learn whether the newest down runs in a transaction.
      const peek = await latest();
      if (!peek) break;
      const step = await runLockedStep(client, peek.script.noTransaction, latest, (s) => ledger.forget(s.file.version));
      if (!step) break;
      this.#logger.info(`migration reverted${step.script.noTransaction ? ' (no transaction)' : ''}`, { migration: step.file.id });
      reverted.push(step.file.id);
    }
    return { reverted };
  }

  /** Every migration file and every ledger entry, with its state. */
  async status(): Promise<MigrationStatus[]> {
    const files = await this.files();
    const ledger = await (await this.#ledger()).ledger.read();
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
    const ledger = await (await this.#ledger()).ledger.read();
    return ledger.sort((a, b) => a.appliedAt.getTime() - b.appliedAt.getTime() || a.version - b.version);
  }

  /** Applied migrations whose file changed or vanished since (empty = valid). */
  async validate(): Promise<ChecksumMismatch[]> {
    const files = await this.files();
    return checksumMismatches(files, await (await this.#ledger()).ledger.read());
  }

  /**
   * Compares the live schema with one built from zero by these files: tables,
   * columns and types, indexes, constraints, policies, triggers, enums,
   * functions, grants (see `checkSchemaDrift`).
   * @throws StoreUnavailableError, or PlatformError when the owner may not create databases (needs CREATEDB)
   */
  async check(): Promise<DriftReport> {
    return checkSchemaDrift(
      await this.#connect(),
      this.#url,
      async (scratchUrl) => {
        await using scratch = new Migrator({ url: scratchUrl, directory: this.#directory });
        await scratch.up();
        return await readSchemaSnapshot(await scratch.#connect()); // awaited before `scratch` is disposed
      },
      this.#logger,
    );
  }

  /**
   * Writes the next-numbered `NNNN_name.sql` and `NNNN_name.down.sql` stubs.
   * @throws MigrationError `MIGRATION_INVALID_FILES` for a name that is not snake_case
   */
  async create(name: string): Promise<{ up: string; down: string }> {
    return scaffoldMigration(this.#directory, await this.files(), name);
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
