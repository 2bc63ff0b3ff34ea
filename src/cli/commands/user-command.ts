import { open, unlink, type FileHandle } from 'node:fs/promises';
import { ValidationError } from '../../errors.js';
import { once } from 'node:events';
import type { Command } from 'commander';
import { ErasureFlow } from '../../flows/privacy/erasure-flow.js';
import { UserExporter } from '../../flows/privacy/user-exporter.js';
import { EXIT, reportError } from '../cli-output.js';
import { finishErasure } from './finish-erasure.js';
import { startCliPlatform } from './start-cli-platform.js';

export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new ValidationError([{ path: '--timeout', message: `must be a number of seconds above 0 and at most 86400, got "${value}"` }]);
  }
  return n;
}

/** Creates `path` (mode 0600) and returns it open; refuses an existing file. @throws ValidationError naming `--out` */
async function claimNewFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'wx', 0o600);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why =
      code === 'EEXIST' ? 'exists already; refusing to overwrite it (choose a new file or remove it first)' : `cannot be created (${code ?? 'error'})`;
    throw new ValidationError([{ path: '--out', message: `${path} ${why}` }], { cause: error });
  }
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
      let file: FileHandle | undefined;
      try {
        // Claim the file before any store is touched: an existing file is refused (never overwritten), as a usage error.
        file = options.out === undefined ? undefined : await claimNewFile(options.out);
        await using platform = await startCliPlatform();
        const sink = file ? file.createWriteStream() : process.stdout;
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
        // A partial export is personal data without its manifest: remove the file this run created.
        if (file && options.out !== undefined) {
          await file.close().catch(() => undefined);
          await unlink(options.out).catch(() => undefined);
        }
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
        process.exitCode = await finishErasure(flow, request, { wait: options.wait, json: options.json, timeoutSeconds: timeout }, () =>
          flow.verifyErased(userId),
        );
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
