import type { Command } from 'commander';
import { redactUrl } from '../../redact-url.js';
import { startLocalStack } from '../../testing/start-local-stack.js';
import { EXIT, out, reportError } from '../cli-output.js';
import { parseStores } from './health-command.js';

/** `platform-data stack up`: start the local stack, print URLs and backends, run until SIGINT/SIGTERM. */
export function registerStackCommand(program: Command): void {
  const stack = program.command('stack').description('the local stack of the four stores');
  stack
    .command('up')
    .description('start (or find) the four stores and keep them running until SIGINT/SIGTERM')
    .option('--json', 'print JSON')
    .option('--only <stores>', 'comma-separated subset')
    .option('--env', 'print `export NAME=url` lines for a shell (eval "$(…)"; URLs with their passwords: they are for the shell)')
    .option('--show-secrets', 'print URLs with their passwords')
    .option('--snapshot-dir <dir>', 'keep stand-in data in this directory across restarts')
    .action(async (options: { json?: boolean; env?: boolean; only?: string; showSecrets?: boolean; snapshotDir?: string }) => {
      // Listen before anything is printed: a SIGTERM right after the URLs appear must still stop the stack cleanly.
      const signalled = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      try {
        const running = await startLocalStack({
          stores: parseStores(options.only),
          snapshotDir: options.snapshotDir,
          log: options.json ? () => undefined : undefined,
        });
        const show = (url: string | undefined) => (url === undefined ? null : options.showSecrets ? url : redactUrl(url));
        const urls = Object.fromEntries(Object.entries(running.urls).map(([k, v]) => [k, show(v)]));
        if (options.env) {
          // Single-quoted for POSIX shells; a URL holds no single quote after URL encoding.
          for (const [name, url] of Object.entries(running.env())) out(`export ${name}='${url.replaceAll("'", '%27')}'`);
          process.stderr.write('stack is up; Ctrl-C to stop\n');
        } else if (options.json) out(JSON.stringify({ urls, backends: running.backends }));
        else
          for (const [store, url] of Object.entries(urls))
            out(`${store.padEnd(8)} ${running.backends[store as keyof typeof running.backends].padEnd(17)} ${url ?? '-'}`);
        if (!options.env) out(options.json ? '' : 'stack is up; Ctrl-C to stop');
        await signalled;
        await running.stop();
        process.exitCode = EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
