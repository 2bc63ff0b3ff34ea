import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { ErasureFlow } from '../../flows/privacy/erasure-flow.js';
import { UserExporter } from '../../flows/privacy/user-exporter.js';
import { EXIT, reportError } from '../cli-output.js';
import { finishErasure } from './finish-erasure.js';
import { startCliPlatform } from './start-cli-platform.js';

export function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--timeout must be a positive number of seconds, got "${value}"`);
  return n;
}

/**
 * `platform-data user export <id> [--out file]` (JSON lines; the file is
 * created 0600, it is personal data) and `platform-data user erase <id>
 * [--reason r] [--wait]` (exit 0 erased/queued, 1 failure or something remains, 2 bad configuration).
 */
export function registerUserCommand(program: Command): void {
  const user = program.command('user').description('GDPR: export or erase one user across all four stores');

  user
    .command('export <userId>')
    .description('write everything held about the user as JSON lines (no secrets), ending with a manifest of counts')
    .option('--out <file>', 'write to this file (created with mode 0600) instead of stdout')
    .action(async (userId: string, options: { out?: string }) => {
      try {
        await using platform = await startCliPlatform();
        const sink = options.out ? createWriteStream(options.out, { mode: 0o600, flags: 'wx' }) : process.stdout;
        let lines = 0;
        for await (const line of platform.resolve(UserExporter).exportUser(userId, { requestedBy: 'cli' })) {
          if (!sink.write(`${line}\n`)) await once(sink, 'drain');
          lines++;
        }
        if (options.out && sink !== process.stdout) {
          sink.end();
          await once(sink, 'finish');
          process.stderr.write(`exported ${lines} lines to ${options.out}\n`);
        }
        process.exitCode = EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });

  user
    .command('erase <userId>')
    .description('record an erasure request, revoke sessions at once and erase the user from every store (resumable)')
    .option('--reason <text>', 'why (stored with the request; no personal data)', 'requested via CLI')
    .option('--wait', 'run the erasure worker here until done, then verify every store')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '300')
    .option('--json', 'print JSON')
    .action(async (userId: string, options: { reason: string; wait?: boolean; timeout: string; json?: boolean }) => {
      try {
        const timeout = seconds(options.timeout);
        await using platform = await startCliPlatform();
        const flow = platform.resolve(ErasureFlow);
        const request = await flow.eraseUser(userId, { reason: options.reason, requestedBy: 'cli' });
        process.exitCode = await finishErasure(flow, request, { wait: options.wait, json: options.json, timeoutSeconds: timeout }, () => flow.verifyErased(userId));
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
