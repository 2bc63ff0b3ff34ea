import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../logger.js';
import { bootstrapPlatform, type StoreBootstrapResult } from '../../flows/bootstrap-platform.js';
import { createPlatform } from '../../platform.js';
import { startLocalStack } from '../../testing/start-local-stack.js';
import { EXIT, out, printJson, reportError } from '../cli-output.js';
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

/** `platform-data bootstrap`: wait for each store, provision it idempotently. Exit 0 all provisioned, 1 a store failed, 2 bad configuration. */
export function registerBootstrapCommand(program: Command): void {
  program
    .command('bootstrap')
    .description('wait for each store, then provision all four idempotently (migrations, collections, indexes, checks)')
    .option('--json', 'print JSON')
    .option('--only <stores>', 'comma-separated subset: postgres,mongo,qdrant,redis')
    .option('--wait <seconds>', 'how long to wait for each store', '30')
    .option('--local', 'start the local stack first')
    .action(async (options: { json?: boolean; only?: string; wait: string; local?: boolean }) => {
      try {
        const stores = parseStores(options.only);
        const waitMs = Number(options.wait) * 1000;
        if (!Number.isFinite(waitMs) || waitMs < 0) throw new Error(`--wait must be a number of seconds, got "${options.wait}"`);
        await using stack = options.local ? await startLocalStack({ stores, log: options.json ? () => undefined : undefined }) : undefined;
        const config = loadConfig({ ...process.env, ...stack?.env() });
        await using platform = createPlatform(config, { stores, logger: createLogger('silent') });
        const results = await bootstrapPlatform(platform, {
          waitMs,
          onEvent: options.json
            ? undefined
            : (e) => {
                if (e.phase === 'waiting') out(`${e.store.padEnd(8)} waiting: ${e.message ?? ''}`);
                if (e.phase === 'step' && e.step) out(`${e.store.padEnd(8)} ${e.step.changed ? '+' : '='} ${e.step.step}${e.step.detail ? ` (${e.step.detail})` : ''}`);
                if (e.phase === 'step' && e.step?.warning) out(`${e.store.padEnd(8)} ! ${e.step.warning}`);
              },
        });
        if (options.json) printJson({ changed: results.some((r) => r.changed), stores: results });
        else {
          out(formatBootstrap(results));
          out(results.some((r) => r.changed) ? 'bootstrap applied changes' : 'bootstrap: no changes (already provisioned)');
        }
        process.exitCode = results.every((r) => r.status === 'provisioned') ? EXIT.ok : EXIT.failed;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
