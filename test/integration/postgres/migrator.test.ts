import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { requireStores } from '../../support/require-stores.js';
import { MigrationError } from '../../../src/postgres/migration-error.js';
import { appLedgerName, DEFAULT_MIGRATIONS_DIRECTORY, Migrator } from '../../../src/postgres/migrator.js';
import { refuseInstalledPackageFolder } from '../../../src/cli/commands/refuse-installed-package-folder.js';
import { databaseUrl, RUN_ID, TEST_DB_PREFIX, withAdmin } from '../../support/postgres-template.js';

const admin = inject('stack').urls.postgres;
const created: string[] = [];
const tempDirs: string[] = [];

/** An empty database (no template), dropped after the file; named so the global teardown also finds it. */
async function emptyDatabase(): Promise<string> {
  if (!admin) throw new Error('no PostgreSQL in this run');
  const name = `${TEST_DB_PREFIX}${RUN_ID}_mig_${randomBytes(4).toString('hex')}`;
  await withAdmin(admin, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0`));
  created.push(name);
  return databaseUrl(admin, name);
}

/** A private copy of sql/ that a test may tamper with. */
async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pd-migrations-'));
  tempDirs.push(dir);
  await cp(DEFAULT_MIGRATIONS_DIRECTORY, dir, { recursive: true });
  return dir;
}

async function emptyDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pd-migrations-'));
  tempDirs.push(dir);
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

const upFiles = async () =>
  (await readdir(DEFAULT_MIGRATIONS_DIRECTORY))
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .map((f) => f.slice(0, -4))
    .sort();

afterAll(async () => {
  if (admin) {
    await withAdmin(admin, async (c) => {
      for (const name of created) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
  }
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!requireStores('postgres'))('Migrator', () => {
  it('migrates an empty database; status, validate and check are clean; a second up applies nothing', async () => {
    const url = await emptyDatabase();
    await using migrator = new Migrator({ url });
    const expected = await upFiles();
    expect(expected.length).toBeGreaterThanOrEqual(6);

    const first = await migrator.up();
    expect(first.applied).toEqual(expected);
    const status = await migrator.status();
    expect(status.map((s) => s.state)).toEqual(expected.map(() => 'applied'));
    expect(await migrator.validate()).toEqual([]);
    const drift = await migrator.check();
    expect(drift.differences).toEqual([]);
    expect(drift.clean).toBe(true);
    const history = await migrator.history();
    expect(history.map((h) => h.version)).toEqual(expected.map((id) => Number.parseInt(id.slice(0, 4), 10)));
    expect(history.every((h) => /^[0-9a-f]{64}$/.test(h.checksum) && h.executionMs >= 0 && h.appliedAt instanceof Date)).toBe(true);

    expect((await migrator.up()).applied).toEqual([]);
    expect(await query(url, 'SELECT count(*)::int AS n FROM platform_migrations')).toEqual([{ n: expected.length }]);
  });

  it('lets two migrators run at once: each file is applied exactly once', async () => {
    const url = await emptyDatabase();
    await using a = new Migrator({ url });
    await using b = new Migrator({ url });
    const [ra, rb] = await Promise.all([a.up(), b.up()]);
    const all = [...ra.applied, ...rb.applied].sort();
    expect(all).toEqual(await upFiles());
    expect(await a.validate()).toEqual([]);
    expect((await b.check()).differences).toEqual([]);
  });

  it('detects a tampered applied file in validate, and up refuses to run on top of it', async () => {
    const url = await emptyDatabase();
    const dir = await copyOfMigrations();
    await using migrator = new Migrator({ url, directory: dir });
    await migrator.up();
    const target = (await readdir(dir)).find((f) => f.startsWith('0003_') && !f.includes('.down.'));
    if (!target) throw new Error('0003 missing');
    await writeFile(join(dir, target), `${await readFile(join(dir, target), 'utf8')}\n-- sneaky edit\n`);

    const mismatches = await migrator.validate();
    expect(mismatches).toHaveLength(1);
    expect(mismatches[0]).toMatchObject({ version: 3, problem: 'changed' });
    expect((await migrator.status()).find((s) => s.version === 3)?.state).toBe('changed');
    const refusal = await migrator.up().catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(MigrationError);
    expect(refusal).toMatchObject({ code: 'MIGRATION_CHECKSUM_MISMATCH', versions: [3] });

    await rm(join(dir, target));
    await rm(join(dir, target.replace(/\.sql$/, '.down.sql')), { force: true });
    expect((await migrator.validate())[0]).toMatchObject({ version: 3, problem: 'missing' });
  });

  it('reverts with down files, newest first, and migrates up again to the same schema', async () => {
    const url = await emptyDatabase();
    await using migrator = new Migrator({ url });
    const ids = await upFiles();
    await migrator.up();
    const { reverted } = await migrator.down(2);
    expect(reverted).toEqual(ids.slice(-2).reverse());
    expect((await migrator.status()).slice(-2).map((s) => s.state)).toEqual(['pending', 'pending']);
    // Revert down to (and including) the personas migration, however many files came after it.
    const personasIndex = ids.findIndex((id) => id.includes('personas'));
    await migrator.down(ids.length - 2 - personasIndex);
    expect(await query(url, `SELECT to_regclass('public.personas') AS t`)).toEqual([{ t: null }]);

    const all = await migrator.down(100);
    expect(all.reverted).toHaveLength(personasIndex);
    const left = await query<{ relname: string }>(
      url,
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r','p') ORDER BY 1`,
    );
    expect(left.map((r) => r.relname)).toEqual(['platform_migrations']);

    expect((await migrator.up()).applied).toEqual(ids);
    expect((await migrator.check()).differences).toEqual([]);
  });

  it('check reports drift made by hand', async () => {
    const url = await emptyDatabase();
    await using migrator = new Migrator({ url });
    await migrator.up();
    await query(url, `ALTER TABLE personas ADD COLUMN mood text; DROP INDEX sessions_expires_at_idx; DROP POLICY api_keys_tenant ON api_keys`);
    const drift = await migrator.check();
    expect(drift.clean).toBe(false);
    expect(drift.differences).toEqual([
      expect.stringMatching(/^missing index sessions_expires_at_idx/),
      expect.stringMatching(/^missing policy api_keys\.api_keys_tenant/),
      expect.stringMatching(/^unexpected column personas\.mood: text/),
    ]);
  });

  it('runs a no-transaction file statement by statement (CREATE INDEX CONCURRENTLY)', async () => {
    const url = await emptyDatabase();
    const dir = await emptyDirectory();
    await writeFile(join(dir, '0001_things.sql'), `CREATE TABLE things (id int PRIMARY KEY, label text);\nINSERT INTO things VALUES (1, 'a;b');\n`);
    await writeFile(
      join(dir, '0002_things_label_idx.sql'),
      `-- platform-data:no-transaction\nCREATE INDEX CONCURRENTLY things_label_idx ON things (label);\n-- a comment; with a semicolon\nSELECT $$;$$;\n`,
    );
    await writeFile(join(dir, '0002_things_label_idx.down.sql'), `-- platform-data:no-transaction\nDROP INDEX CONCURRENTLY things_label_idx;\n`);
    await using migrator = new Migrator({ url, directory: dir });
    expect((await migrator.up()).applied).toEqual(['0001_things', '0002_things_label_idx']);
    expect(await query(url, `SELECT indexname FROM pg_indexes WHERE tablename = 'things' ORDER BY 1`)).toEqual([
      { indexname: 'things_label_idx' },
      { indexname: 'things_pkey' },
    ]);
    expect((await migrator.down()).reverted).toEqual(['0002_things_label_idx']);
    const refusal = await migrator.down().catch((e: unknown) => e);
    expect(refusal).toMatchObject({ code: 'MIGRATION_NO_DOWN', versions: [1] });
  });

  it('rolls a failing file back and names the file and line', async () => {
    const url = await emptyDatabase();
    const dir = await emptyDirectory();
    await writeFile(join(dir, '0001_ok.sql'), `CREATE TABLE ok (id int);\n`);
    await writeFile(join(dir, '0002_broken.sql'), `CREATE TABLE half (id int);\n\nSELEC 1;\n`);
    await using migrator = new Migrator({ url, directory: dir });
    const error = await migrator.up().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', versions: [2] });
    expect((error as Error).message).toMatch(/^0002_broken\.sql line 3: syntax error/);
    expect(await query(url, `SELECT to_regclass('public.half') AS t, to_regclass('public.ok') IS NOT NULL AS ok`)).toEqual([{ t: null, ok: true }]);
    expect((await migrator.status()).map((s) => s.state)).toEqual(['applied', 'pending']);
  });

  it('refuses a new file numbered below an applied one, and rejects badly named files', async () => {
    const url = await emptyDatabase();
    const dir = await emptyDirectory();
    await writeFile(join(dir, '0002_second.sql'), `SELECT 1;\n`);
    await using migrator = new Migrator({ url, directory: dir });
    await migrator.up();
    await writeFile(join(dir, '0001_first.sql'), `SELECT 1;\n`);
    await expect(migrator.up()).rejects.toMatchObject({ code: 'MIGRATION_OUT_OF_ORDER', versions: [1] });
    await writeFile(join(dir, '3_bad.sql'), `SELECT 1;\n`);
    await expect(migrator.files()).rejects.toMatchObject({ code: 'MIGRATION_INVALID_FILES' });
  });

  it('create writes the next-numbered up and down stubs and rejects non-snake_case names', async () => {
    const dir = await copyOfMigrations();
    const migrator = new Migrator({ url: 'postgres://unused@127.0.0.1:1/none', directory: dir });
    const highest = Math.max(...(await upFiles()).map((id) => Number.parseInt(id.slice(0, 4), 10)));
    const next = String(highest + 1).padStart(4, '0');
    const { up, down } = await migrator.create('add_widgets');
    expect(up).toBe(join(dir, `${next}_add_widgets.sql`));
    expect(down).toBe(join(dir, `${next}_add_widgets.down.sql`));
    expect((await migrator.files()).at(-1)).toMatchObject({ name: 'add_widgets', noTransaction: false });
    await expect(migrator.create('Add-Widgets')).rejects.toMatchObject({ code: 'MIGRATION_INVALID_FILES' });
  });
});

describe('application migrations (their own folder and ledger)', () => {
  it('names the ledger after the folder and refuses a name that is not an identifier', () => {
    expect(appLedgerName('migrations')).toBe('app_migrations');
    expect(appLedgerName('/srv/app/Billing-SQL/')).toBe('app_billing_sql');
    expect(() => new Migrator({ url: 'postgres://localhost/x', ledger: 'x; DROP TABLE users' })).toThrow(MigrationError);
  });

  it('db create refuses the package folder inside node_modules, and only there', () => {
    expect(() => refuseInstalledPackageFolder('/srv/app/node_modules/platform-data/sql/')).toThrow(/--dir migrations/);
    expect(() => refuseInstalledPackageFolder('/work/platform-data/sql/')).not.toThrow();
  });

  it.skipIf(!requireStores('postgres'))('keeps a version 0001 of the package and one of the app apart, and reverts only the app', async () => {
    const url = await emptyDatabase();
    const library = await emptyDirectory();
    const app = await emptyDirectory();
    await writeFile(join(library, '0001_library.sql'), 'CREATE TABLE library_things (id int PRIMARY KEY);');
    await writeFile(join(app, '0001_widgets.sql'), 'CREATE TABLE widgets (id int PRIMARY KEY, thing int REFERENCES library_things (id));');
    await writeFile(join(app, '0001_widgets.down.sql'), 'DROP TABLE widgets;');
    await using libraryMigrator = new Migrator({ url, directory: library });
    await using appMigrator = new Migrator({ url, directory: app, ledger: 'app_widgets' });

    expect((await libraryMigrator.up()).applied).toEqual(['0001_library']);
    expect((await appMigrator.up()).applied).toEqual(['0001_widgets']);
    expect((await appMigrator.status()).map((s) => s.state)).toEqual(['applied']);
    // Neither ledger sees the other's file as missing.
    expect(await libraryMigrator.validate()).toEqual([]);
    expect(await appMigrator.validate()).toEqual([]);
    expect(await query(url, `SELECT version, name FROM app_widgets`)).toEqual([{ version: 1, name: 'widgets' }]);

    expect((await appMigrator.down(1)).reverted).toEqual(['0001_widgets']);
    expect(await query(url, `SELECT to_regclass('widgets') AS t`)).toEqual([{ t: null }]);
    expect((await libraryMigrator.status()).map((s) => `${s.name}:${s.state}`)).toEqual(['library:applied']);
  });
});
