import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import pg from 'pg';
import { z } from 'zod';
import { loadConfig, ownerDatabaseUrl, type Config } from '../../config.js';
import { PlatformError, ValidationError } from '../../errors.js';
import { mapPostgresError } from '../../postgres/map-postgres-error.js';
import { appLedgerName, DEFAULT_MIGRATIONS_DIRECTORY, LEDGER_TABLE as LIBRARY_LEDGER, Migrator } from '../../postgres/migrator.js';
import { redactUrl } from '../../redact-url.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { EXIT, out, printJson, reportError, table } from '../cli-output.js';
import { refuseInstalledPackageFolder } from './refuse-installed-package-folder.js';

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

export interface SeedResult {
  readonly adminEmail: string;
  readonly adminCreated: boolean;
  /** Set only when the password was generated here: print it once, store it nowhere. */
  readonly generatedPassword: string | undefined;
  readonly organizationSlug: string;
  readonly organizationCreated: boolean;
  readonly memberEmail: string;
  readonly memberCreated: boolean;
  /** The member's generated password, set only when the member was created here: print it once. */
  readonly memberPassword: string | undefined;
  /** Names of the starter personas created by this run (none when they exist already). */
  readonly personasCreated: readonly string[];
}

/**
 * The demo organization's starter personas (seed guide NeuraFormAI: an
 * organization starts with a few assistants to pick from, not an empty list).
 */
const STARTER_PERSONAS = [
  { name: 'Assistant', description: 'A concise, friendly general assistant.', traits: { tone: 'friendly', verbosity: 'concise' } },
  { name: 'Support Agent', description: 'Answers customer questions from the knowledge base, cites its sources.', traits: { tone: 'patient', cites: true } },
  { name: 'Tutor', description: 'Explains step by step and checks understanding.', traits: { tone: 'encouraging', style: 'socratic' } },
] as const;

/**
 * Creates the admin user, the demo organization with the admin as owner, a
 * member account (role `member`, seed guides CAP Platform / Farout: a
 * non-admin account to try permissions with) and the starter personas, unless
 * they exist. Idempotent and safe to run concurrently (every insert is ON
 * CONFLICT DO NOTHING); an existing account's password is never changed.
 * @throws ValidationError when PLATFORM_ADMIN_PASSWORD is too short, or an email is malformed or both name one address
 */
export async function seedDatabase(config: Config, env: Readonly<Record<string, string | undefined>>): Promise<SeedResult> {
  const adminEmail = (env.PLATFORM_ADMIN_EMAIL || 'admin@example.com').toLowerCase();
  const memberEmail = (env.PLATFORM_MEMBER_EMAIL || 'member@example.com').toLowerCase();
  const organizationSlug = 'demo';
  const given = env.PLATFORM_ADMIN_PASSWORD || undefined;
  if (given !== undefined && given.length < 12) {
    throw new ValidationError([{ path: 'PLATFORM_ADMIN_PASSWORD', message: 'must be at least 12 characters' }]);
  }
  for (const [path, email] of [
    ['PLATFORM_ADMIN_EMAIL', adminEmail],
    ['PLATFORM_MEMBER_EMAIL', memberEmail],
  ] as const) {
    if (!z.email().safeParse(email).success) throw new ValidationError([{ path, message: `must be an email address, got "${email}"` }]);
  }
  if (adminEmail === memberEmail) throw new ValidationError([{ path: 'PLATFORM_MEMBER_EMAIL', message: 'must differ from PLATFORM_ADMIN_EMAIL' }]);
  return withOwnerClient(config, async (client) => {
    const existing = await client.query(`SELECT 1 FROM users WHERE email = $1`, [adminEmail]);
    let generatedPassword: string | undefined;
    let adminCreated = false;
    await client.query('BEGIN');
    try {
      if (existing.rowCount === 0) {
        const password = given ?? randomBytes(18).toString('base64url');
        const hash = await new PasswordHasher(config).hash(password);
        const inserted = await client.query(
          `INSERT INTO users (email, display_name, password_hash, status, email_verified_at, password_changed_at)
           VALUES ($1, 'Administrator', $2, 'active', now(), now())
           ON CONFLICT (email) DO NOTHING`,
          [adminEmail, hash],
        );
        adminCreated = inserted.rowCount === 1;
        if (adminCreated && given === undefined) generatedPassword = password;
      }
      const org = await client.query(
        `INSERT INTO organizations (name, slug, tier, credits) VALUES ('Demo Organization', $1, 'pro', 1000)
         ON CONFLICT (slug) DO NOTHING`,
        [organizationSlug],
      );
      await client.query(
        `INSERT INTO memberships (organization_id, user_id, role)
         SELECT o.id, u.id, 'owner' FROM organizations o, users u WHERE o.slug = $1 AND u.email = $2
         ON CONFLICT (organization_id, user_id) DO NOTHING`,
        [organizationSlug, adminEmail],
      );
      await client.query(
        `INSERT INTO organization_security_settings (organization_id)
         SELECT id FROM organizations WHERE slug = $1
         ON CONFLICT (organization_id) DO NOTHING`,
        [organizationSlug],
      );
      let memberPassword: string | undefined = randomBytes(18).toString('base64url');
      const member = await client.query(
        `INSERT INTO users (email, display_name, password_hash, status, email_verified_at, password_changed_at)
         VALUES ($1, 'Demo Member', $2, 'active', now(), now())
         ON CONFLICT (email) DO NOTHING`,
        [memberEmail, await new PasswordHasher(config).hash(memberPassword)],
      );
      if (member.rowCount !== 1) memberPassword = undefined;
      await client.query(
        `INSERT INTO memberships (organization_id, user_id, role)
         SELECT o.id, u.id, 'member' FROM organizations o, users u WHERE o.slug = $1 AND u.email = $2
         ON CONFLICT (organization_id, user_id) DO NOTHING`,
        [organizationSlug, memberEmail],
      );
      const personas = await client.query<{ name: string }>(
        `INSERT INTO personas (organization_id, name, description, traits, created_by)
         SELECT o.id, p.name, p.description, p.traits, u.id
         FROM organizations o, users u, jsonb_to_recordset($3::jsonb) AS p(name text, description text, traits jsonb)
         WHERE o.slug = $1 AND u.email = $2
         ON CONFLICT (organization_id, lower(name)) WHERE deleted_at IS NULL DO NOTHING
         RETURNING name`,
        [organizationSlug, adminEmail, JSON.stringify(STARTER_PERSONAS)],
      );
      await client.query('COMMIT');
      return {
        adminEmail,
        adminCreated,
        generatedPassword,
        organizationSlug,
        organizationCreated: org.rowCount === 1,
        memberEmail,
        memberCreated: memberPassword !== undefined,
        memberPassword,
        personasCreated: personas.rows.map((r) => r.name),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

/**
 * `platform-data db …`: migrations (migrate, down, status, history, create,
 * validate, check), reset and seed, against DATABASE_URL (the owner role).
 * Exit codes: 0 ok, 1 failed / drift / mismatch, 2 bad configuration.
 */
export function registerDbCommand(program: Command): void {
  const db = program.command('db').description('PostgreSQL migrations, drift check, reset and seed (uses DATABASE_URL, the owner role)');
  db.command('migrate')
    .description("apply every pending migration (safe to run twice or from several processes at once); with --dir the package's first, then the folder's")
    .option('--dir <directory>', DIR_HELP)
    .option('--ledger <table>', LEDGER_HELP)
    .action(
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

  db.command('down')
    .description('revert the newest applied migration(s) with their down files')
    .argument('[n]', 'how many migrations to revert', '1')
    .option('--dir <directory>', DIR_HELP)
    .option('--ledger <table>', LEDGER_HELP)
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

  db.command('status')
    .description('every migration and whether it is applied, pending, changed or missing (exit 1 on changed/missing)')
    .option('--json', 'print JSON')
    .option('--dir <directory>', DIR_HELP)
    .option('--ledger <table>', LEDGER_HELP)
    .action(
      action(async (config, options: FolderOptions & { json?: boolean }) => {
        await using m = migratorFor(config, options);
        const rows = await m.status();
        if (options.json) printJson(rows);
        else
          out(
            table(
              ['version', 'name', 'state', 'applied at'],
              rows.map((r) => [pad(r.version), r.name, r.state, when(r.appliedAt)]),
            ),
          );
        return rows.some((r) => r.state === 'changed' || r.state === 'missing') ? EXIT.failed : EXIT.ok;
      }),
    );

  db.command('history')
    .description('the migration ledger, oldest first')
    .option('--json', 'print JSON')
    .option('--dir <directory>', DIR_HELP)
    .option('--ledger <table>', LEDGER_HELP)
    .action(
      action(async (config, options: FolderOptions & { json?: boolean }) => {
        await using m = migratorFor(config, options);
        const rows = await m.history();
        if (options.json) printJson(rows);
        else {
          out(
            table(
              ['version', 'name', 'applied at', 'ms', 'checksum'],
              rows.map((r) => [pad(r.version), r.name, when(r.appliedAt), String(r.executionMs), r.checksum.slice(0, 12)]),
            ),
          );
        }
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

  db.command('validate')
    .description('check that applied migration files are unchanged (SHA-256 against the ledger)')
    .option('--dir <directory>', DIR_HELP)
    .option('--ledger <table>', LEDGER_HELP)
    .action(
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

  db.command('check')
    .description("compare the live schema with one built from the migrations in a scratch database (drift); with --dir the package's and then the folder's")
    .option('--dir <directory>', DIR_HELP)
    .option('--ledger <table>', LEDGER_HELP)
    .action(
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
      'create the admin user (PLATFORM_ADMIN_EMAIL, PLATFORM_ADMIN_PASSWORD or a generated one printed once), a demo organization, a member account (PLATFORM_MEMBER_EMAIL) and starter personas; idempotent',
    )
    .action(
      action(async (config) => {
        const result = await seedDatabase(config, process.env);
        out(`admin ${result.adminEmail}: ${result.adminCreated ? 'created' : 'already exists (password unchanged)'}`);
        if (result.generatedPassword) out(`admin password (shown once, store it now): ${result.generatedPassword}`);
        out(`organization ${result.organizationSlug}: ${result.organizationCreated ? 'created' : 'already exists'}`);
        out(`member ${result.memberEmail}: ${result.memberCreated ? 'created (role member)' : 'already exists (password unchanged)'}`);
        if (result.memberPassword) out(`member password (shown once, store it now): ${result.memberPassword}`);
        out(`personas: ${result.personasCreated.length > 0 ? `created ${result.personasCreated.join(', ')}` : 'already exist'}`);
        return EXIT.ok;
      }),
    );
}
