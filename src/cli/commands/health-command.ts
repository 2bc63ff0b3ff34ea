import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { ValidationError, type StoreName } from '../../errors.js';
import { createLogger } from '../../logger.js';
import { createPlatform, type PlatformHealth } from '../../platform.js';
import { STORE_NAMES } from '../../platform-options.js';
import { startLocalStack } from '../../testing/start-local-stack.js';
import { EXIT, out, printJson, reportError, storeHint, table } from '../cli-output.js';

export function formatHealth(health: PlatformHealth): string {
  const nodes = health.stores.flatMap((s) => (s.nodes ?? []).map((n) => [s.store, n.role, n.status, n.address, n.detail ?? '']));
  const stores = table(
    ['store', 'status', 'latency', 'version', 'provisioned', 'url / error'],
    health.stores.map((s) => [
      s.store,
      s.status,
      s.latencyMs === undefined ? '-' : `${s.latencyMs.toFixed(1)} ms`,
      s.version ?? '-',
      s.provisioned === undefined
        ? '-'
        : s.provisioned
          ? 'yes'
          : `no (${(s.pending ?? []).slice(0, 3).join(', ')}${(s.pending?.length ?? 0) > 3 ? ', …' : ''})`,
      s.error ?? s.url,
    ]),
  );
  // With a Redis Cluster, a PostgreSQL standby or a pooler: each server's role (master/replica, primary/standby, pooler).
  return nodes.length === 0 ? stores : `${stores}\n\n${table(['store', 'role', 'status', 'node', 'detail'], nodes)}`;
}

export function parseStores(value: string | undefined): StoreName[] {
  if (!value) return [...STORE_NAMES];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!STORE_NAMES.includes(n as StoreName))
      throw new ValidationError([{ path: '--only', message: `unknown store "${n}" (expected ${STORE_NAMES.join(', ')})` }]);
  }
  return names as StoreName[];
}

/** `platform-data health`: per-store up/down, latency and version; exit 0 only when all are up. */
export function registerHealthCommand(program: Command): void {
  program
    .command('health')
    .description('check every store: up/down, latency, server version')
    .option('--json', 'print JSON')
    .option('--only <stores>', 'comma-separated subset: postgres,mongo,qdrant,redis')
    .option('--local', 'start the local stack first and check it')
    .action(async (options: { json?: boolean; only?: string; local?: boolean }) => {
      let code: number = EXIT.ok;
      try {
        const stores = parseStores(options.only);
        await using stack = options.local ? await startLocalStack({ stores, log: options.json ? () => undefined : undefined }) : undefined;
        // A health check answers faster than the library's connect bound (3 s unless STORE_CONNECT_TIMEOUT_MS says otherwise).
        const config = loadConfig({ STORE_CONNECT_TIMEOUT_MS: '3000', ...process.env, ...stack?.env() });
        await using platform = createPlatform(config, { stores, logger: createLogger('silent') });
        // Connect what answers; health() reports the rest as down without throwing, and the
        // connect error (refused, unknown host, auth failed, …) replaces its bare "not started".
        const started = await Promise.allSettled(stores.map((s) => platform.connection(s).start()));
        const causes = new Map(
          stores.flatMap((s, i) => {
            const result = started[i];
            return result?.status === 'rejected' ? [[s, result.reason instanceof Error ? result.reason.message : String(result.reason)] as const] : [];
          }),
        );
        const checked = await platform.health();
        const health = {
          ...checked,
          stores: checked.stores.map((s) => (s.status === 'down' && causes.has(s.store) ? { ...s, error: causes.get(s.store) } : s)),
        };
        if (options.json) printJson(health);
        else out(formatHealth(health));
        code = health.status === 'up' ? EXIT.ok : EXIT.failed;
        if (!options.json) {
          for (const s of health.stores) {
            if (s.status === 'down') process.stderr.write(`error: ${s.store} is down: ${s.error ?? 'no answer'} (${storeHint(s.store)})\n`);
            else if (s.provisioned === false) process.stderr.write(`error: ${s.store} is not provisioned: run platform-data bootstrap\n`);
          }
        }
      } catch (error) {
        code = reportError(error);
      }
      process.exitCode = code;
    });
}
