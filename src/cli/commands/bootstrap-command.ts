import type { Command } from 'commander';
import { loadConfig, ownerDatabaseUrl } from '../../config.js';
import { StoreUnavailableError, ValidationError } from '../../errors.js';
import { createDatabaseIfMissing } from '../../postgres/create-database.js';
import { createLogger } from '../../logger.js';
import { bootstrapPlatform, type StoreBootstrapResult } from '../../flows/bootstrap-platform.js';
import { createPlatform } from '../../platform.js';
import { STORE_URL_VARIABLES, startLocalStack } from '../../testing/start-local-stack.js';
import { EXIT, out, printJson, reportError, storeHint } from '../cli-output.js';
import { parseStores } from './health-command.js';

/** One line per store: what bootstrap did. */
export function formatBootstrap(results: readonly StoreBootstrapResult[]): string {
  return results
    .map((r) => {
      const changed = r.steps.filter((s) => s.changed).length;
      const what = r.status === 'failed' ? `FAILED: ${r.error ?? ''}` : changed === 0 ? 'no changes' : `${changed} change${changed === 1 ? '' : 's'}`;
      return `${r.store.padEnd(8)} ${r.status.padEnd(11)} ${what} (${r.ms.toFixed(0)} ms)`;
    })
    .join('\n');
}

/** What to do about a failed store, from the cause its error mapper recognised. */
function nextStep(result: StoreBootstrapResult): string {
  const reason = result.cause instanceof StoreUnavailableError ? result.cause.reason : undefined;
  if (result.store === 'postgres' && reason === 'database_missing')
    return 'create it with `platform-data bootstrap --create-database`, or fix the database name in DATABASE_URL';
  if (reason === 'auth_failed') return `check the user and password in ${STORE_URL_VARIABLES[result.store]}`;
  return storeHint(result.store);
}

/** `platform-data bootstrap`: wait for each store, provision it idempotently. Exit 0 all provisioned, 1 a store failed, 2 bad configuration. */
export function registerBootstrapCommand(program: Command): void {
  program
    .command('bootstrap')
    .description('wait for each store, then provision all four idempotently (migrations, collections, indexes, checks)')
    .option('--json', 'print JSON')
    .option('--only <stores>', 'comma-separated subset: postgres,mongo,qdrant,redis')
    .option('--wait <seconds>', 'how long to wait for each store', '30')
    .option('--local', 'start the local stack first')
    .option('--create-database', 'create the PostgreSQL database of DATABASE_URL when it is missing (the owner needs CREATEDB)')
    .action(async (options: { json?: boolean; only?: string; wait: string; local?: boolean; createDatabase?: boolean }) => {
      try {
        const stores = parseStores(options.only);
        const wait = Number(options.wait);
        if (options.wait.trim() === '' || !Number.isFinite(wait) || wait < 0 || wait > 3600) {
          throw new ValidationError([{ path: '--wait', message: `must be a number of seconds from 0 to 3600, got "${options.wait}"` }]);
        }
        const waitMs = wait * 1000;
        await using stack = options.local ? await startLocalStack({ stores, log: options.json ? () => undefined : undefined }) : undefined;
        const config = loadConfig({ ...process.env, ...stack?.env() });
        if (options.createDatabase && stores.includes('postgres')) {
          const created = await createDatabaseIfMissing(ownerDatabaseUrl(config, 'bootstrap --create-database'), { connectTimeoutMs: config.connectTimeoutMs });
          if (!options.json) out(`postgres ${created ? '+ created the database' : '= database exists'}`);
        }
        await using platform = createPlatform(config, { stores, logger: createLogger('silent') });
        const results = await bootstrapPlatform(platform, {
          waitMs,
          onEvent: options.json
            ? undefined
            : (e) => {
                if (e.phase === 'waiting') out(`${e.store.padEnd(8)} waiting: ${e.message ?? ''}`);
                if (e.phase === 'step' && e.step)
                  out(`${e.store.padEnd(8)} ${e.step.changed ? '+' : '='} ${e.step.step}${e.step.detail ? ` (${e.step.detail})` : ''}`);
                if (e.phase === 'step' && e.step?.warning) out(`${e.store.padEnd(8)} ! ${e.step.warning}`);
              },
        });
        if (options.json) printJson({ changed: results.some((r) => r.changed), stores: results });
        else {
          out(formatBootstrap(results));
          const failed = results.filter((r) => r.status === 'failed');
          // Never "no changes" after a failure: the failed store was not checked, so nothing is known to be provisioned.
          if (failed.length > 0) {
            out(`bootstrap failed: ${failed.map((r) => r.store).join(', ')}${results.some((r) => r.changed) ? ' (other stores were changed)' : ''}`);
            for (const r of failed) process.stderr.write(`error: ${r.store}: ${r.error ?? 'failed'} (${nextStep(r)})\n`);
          } else out(results.some((r) => r.changed) ? 'bootstrap applied changes' : 'bootstrap: no changes (already provisioned)');
        }
        process.exitCode = results.every((r) => r.status === 'provisioned') ? EXIT.ok : EXIT.failed;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
