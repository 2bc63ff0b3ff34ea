import { mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig, ownerDatabaseUrl, type Config } from '../../config.js';
import { PlatformError, ValidationError } from '../../errors.js';
import { mapPostgresError } from '../../postgres/map-postgres-error.js';
import { appLedgerName, DEFAULT_MIGRATIONS_DIRECTORY, LEDGER_TABLE as LIBRARY_LEDGER, Migrator } from '../../postgres/migrator.js';
import { redactUrl } from '../../redact-url.js';
import { EXIT, out, printJson, reportError, table } from '../cli-output.js';
import { refuseInstalledPackageFolder } from './refuse-installed-package-folder.js';
import { seedDatabase } from './seed-database.js';

/** `--dir`/`--ledger`: an application's migrations folder and its ledger. */
interface FolderOptions {
  readonly dir?: string;
  readonly ledger?: string;
}

const DIR_HELP = "the application's migrations folder (default: only the package's own migrations)";
const LEDGER_HELP = 'ledger table of --dir (default: app_<folder name>, e.g. app_migrations)';

/** The migrator of the folder the options name: the application's with its own ledger, else the package's. */
function migratorFor(config: Config, options: FolderOptions): Migrator {
  if (options.ledger && !options.dir) throw new ValidationError([{ path: '--ledger', message: 'only applies with --dir <folder>' }]);
  if (!options.dir) return new Migrator({ url: ownerDatabaseUrl(config, 'migrations') });
  return new Migrator({ url: ownerDatabaseUrl(config, 'migrations'), directory: options.dir, ledger: options.ledger ?? appLedgerName(options.dir) });
}

/** A `db` sub-command over a migrations folder: `--dir` and `--ledger` (see {@link migratorFor}). */
function folderCommand(db: Command, name: string, description: string): Command {
  return db.command(name).description(description).option('--dir <directory>', DIR_HELP).option('--ledger <table>', LEDGER_HELP);
}

/** `--json` prints the rows as they are, else as a table. */
function printRows<R>(json: boolean | undefined, rows: readonly R[], header: readonly string[], cells: (row: R) => string[]): void {
  if (json) printJson(rows);
  else out(table(header, rows.map(cells)));
}

const pad = (version: number) => String(version).padStart(4, '0');
const when = (date: Date | undefined) => (date ? date.toISOString() : '-');

/** Runs a db sub-command body: config from the environment, one-line errors, exit code. */
function action<A extends unknown[]>(body: (config: Config, ...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await body(loadConfig(process.env), ...args);
    } catch (error) {
      process.exitCode = reportError(error);
    }
  };
}

async function withOwnerClient<T>(config: Config, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = ownerDatabaseUrl(config, 'this db command');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: config.connectTimeoutMs });
  try {
    await client.connect();
  } catch (error) {
    throw mapPostgresError(error, redactUrl(url));
  }
  try {
    return await fn(client);
  } catch (error) {
    throw mapPostgresError(error, redactUrl(url));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * `platform-data db …`: migrations (migrate, down, status, history, create,
 * validate, check), reset and seed, against DATABASE_URL (the owner role).
 * Exit codes: 0 ok, 1 failed / drift / mismatch, 2 bad configuration.
 */
export function registerDbCommand(program: Command): void {
  const db = program
    .command('db')
    .description('PostgreSQL migrations, drift check, reset and seed (DATABASE_URL, the owner role; seed works as the application: DATABASE_APP_URL)');
  folderCommand(
    db,
    'migrate',
    "apply every pending migration (safe to run twice or from several processes at once); with --dir the package's first, then the folder's",
  ).action(
    action(async (config, options: FolderOptions) => {
      const migrators = [new Migrator({ url: ownerDatabaseUrl(config, 'migrations') }), ...(options.dir ? [migratorFor(config, options)] : [])];
      const applied: string[] = [];
      try {
        for (const m of migrators) {
          const prefix = m.ledger === LIBRARY_LEDGER ? '' : `${m.ledger}: `;
          applied.push(...(await m.up()).applied.map((id) => `${prefix}${id}`));
        }
      } finally {
        await Promise.all(migrators.map((m) => m.close()));
      }
      out(applied.length === 0 ? 'database is up to date' : applied.map((id) => `applied ${id}`).join('\n'));
      return EXIT.ok;
    }),
  );

  folderCommand(db, 'down', 'revert the newest applied migration(s) with their down files')
    .argument('[n]', 'how many migrations to revert', '1')
    .action(
      action(async (config, n: string, options: FolderOptions) => {
        const count = Number(n);
        if (!Number.isInteger(count) || count < 1) throw new ValidationError([{ path: 'n', message: `must be a positive whole number, got "${n}"` }]);
        await using m = migratorFor(config, options);
        const { reverted } = await m.down(count);
        out(reverted.length === 0 ? 'nothing to revert' : reverted.map((id) => `reverted ${id}`).join('\n'));
        return EXIT.ok;
      }),
    );

  folderCommand(db, 'status', 'every migration and whether it is applied, pending, changed or missing (exit 1 on changed/missing)')
    .option('--json', 'print JSON')
    .action(
      action(async (config, options: FolderOptions & { json?: boolean }) => {
        await using m = migratorFor(config, options);
        const rows = await m.status();
        printRows(options.json, rows, ['version', 'name', 'state', 'applied at'], (r) => [pad(r.version), r.name, r.state, when(r.appliedAt)]);
        return rows.some((r) => r.state === 'changed' || r.state === 'missing') ? EXIT.failed : EXIT.ok;
      }),
    );

  folderCommand(db, 'history', 'the migration ledger, oldest first')
    .option('--json', 'print JSON')
    .action(
      action(async (config, options: FolderOptions & { json?: boolean }) => {
        await using m = migratorFor(config, options);
        const rows = await m.history();
        printRows(options.json, rows, ['version', 'name', 'applied at', 'ms', 'checksum'], (r) => [
          pad(r.version),
          r.name,
          when(r.appliedAt),
          String(r.executionMs),
          r.checksum.slice(0, 12),
        ]);
        return EXIT.ok;
      }),
    );

  db.command('create')
    .description(
      'write the next-numbered NNNN_<name>.sql and .down.sql stubs into --dir (an application folder); without --dir into the package sql/ folder of a checkout, never into node_modules',
    )
    .argument('<name>', 'snake_case name')
    .option('--dir <directory>', 'migrations folder (created if missing)')
    .action(async (name: string, options: { dir?: string }) => {
      try {
        if (!options.dir) refuseInstalledPackageFolder(DEFAULT_MIGRATIONS_DIRECTORY);
        else await mkdir(options.dir, { recursive: true });
        // No database needed: a placeholder URL keeps Migrator's one constructor.
        const m = new Migrator({ url: 'postgres://localhost/unused', directory: options.dir });
        const { up, down } = await m.create(name);
        out(`created ${up}\ncreated ${down}`);
        process.exitCode = EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });

  folderCommand(db, 'validate', 'check that applied migration files are unchanged (SHA-256 against the ledger)').action(
    action(async (config, options: FolderOptions) => {
      await using m = migratorFor(config, options);
      const mismatches = await m.validate();
      if (mismatches.length === 0) {
        out('all applied migrations match their files');
        return EXIT.ok;
      }
      for (const x of mismatches)
        process.stderr.write(`error: ${pad(x.version)}_${x.name}: ${x.problem === 'missing' ? 'file is missing' : 'file changed since it was applied'}\n`);
      return EXIT.failed;
    }),
  );

  folderCommand(
    db,
    'check',
    "compare the live schema with one built from the migrations in a scratch database (drift); with --dir the package's and then the folder's",
  ).action(
    action(async (config, options: FolderOptions) => {
      await using m = migratorFor(config, options);
      const report = await m.check();
      if (report.clean) {
        out('no drift: the schema matches the migrations');
        return EXIT.ok;
      }
      for (const d of report.differences) process.stderr.write(`drift: ${d}\n`);
      process.stderr.write(`error: ${report.differences.length} difference(s) between the schema and the migrations\n`);
      return EXIT.failed;
    }),
  );

  db.command('reset')
    .description('drop everything in schema public and migrate from zero (refused in production; needs --force)')
    .option('--force', 'really drop all data')
    .action(
      action(async (config, options: { force?: boolean }) => {
        if (config.environment === 'production') throw new PlatformError('RESET_REFUSED', 'db reset is refused in production');
        if (!options.force) throw new PlatformError('RESET_REFUSED', 'db reset drops all data: re-run with --force');
        await withOwnerClient(config, async (client) => {
          // Recreating the schema drops the ledger and extensions too, so the migrations rebuild exactly what they describe.
          await client.query(`DROP SCHEMA public CASCADE; CREATE SCHEMA public;`);
        });
        await using m = new Migrator({ url: ownerDatabaseUrl(config, 'migrations') });
        const { applied } = await m.up();
        out(`reset: dropped schema public and applied ${applied.length} migration(s)`);
        return EXIT.ok;
      }),
    );

  db.command('seed')
    .description(
      'create the admin user (PLATFORM_ADMIN_EMAIL, PLATFORM_ADMIN_PASSWORD or a generated one printed once; changed at the first sign-in), a demo organization, a member account (PLATFORM_MEMBER_EMAIL) and starter personas, through the repositories; idempotent',
    )
    .action(
      action(async (config) => {
        const result = await seedDatabase(config, process.env);
        out(
          `admin ${result.adminEmail}: ${result.adminCreated ? 'created (must change the password at the first sign-in)' : 'already exists (password unchanged)'}`,
        );
        if (result.generatedPassword) out(`admin password (shown once, store it now): ${result.generatedPassword}`);
        out(`organization ${result.organizationSlug}: ${result.organizationCreated ? 'created' : 'already exists'}`);
        out(`member ${result.memberEmail}: ${result.memberCreated ? 'created (role member)' : 'already exists (password unchanged)'}`);
        if (result.memberPassword) out(`member password (shown once, store it now): ${result.memberPassword}`);
        out(`personas: ${result.personasCreated.length > 0 ? `created ${result.personasCreated.join(', ')}` : 'already exist'}`);
        return EXIT.ok;
      }),
    );
}
