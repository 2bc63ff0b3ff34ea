import type { Command } from 'commander';
import { redactUrl } from '../../redact-url.js';
import { runDemo } from '../demo/run-demo.js';
import { EXIT, out, reportError } from '../cli-output.js';

/** `platform-data demo` (`npm start`): the whole story on the local stack. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('walk the whole story on the local stack (embedded default), then stop cleanly')
    .option('--keep', 'leave the stack running and print its URLs')
    .action(async (options: { keep?: boolean }) => {
      try {
        const result = await runDemo({ keep: options.keep });
        if (options.keep && result.stack) {
          out('\nThe stack keeps running (Ctrl-C to stop):');
          for (const [store, url] of Object.entries(result.stack.urls)) out(`   ${store.padEnd(8)} ${url ? redactUrl(url) : '-'}`);
          out(`   database ${redactUrl(result.env.DATABASE_URL ?? '')}`);
          await new Promise<void>((resolve) => {
            process.once('SIGINT', () => resolve());
            process.once('SIGTERM', () => resolve());
          });
          await result.stack.stop();
        }
        process.exitCode = EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
