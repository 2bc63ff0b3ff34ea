import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { ErasureFlow, type ErasureRemainder } from '../../flows/erasure-flow.js';
import { UserExporter } from '../../flows/user-exporter.js';
import { createLogger } from '../../logger.js';
import { createPlatform, type Platform } from '../../platform.js';
import type { ErasureRequestRecord } from '../../postgres/repositories/erasure-request-repository.js';
import { EXIT, out, printJson, reportError } from '../cli-output.js';

/** Starts a platform on the environment's stores (all four: export and erasure span them). */
export async function startCliPlatform(): Promise<Platform> {
  const platform = createPlatform(loadConfig(process.env), { logger: createLogger('silent') });
  try {
    await platform.start();
  } catch (error) {
    await platform.stop();
    throw error;
  }
  return platform;
}

/** Runs the erasure worker in this process until `request` completes, then verifies. */
export async function runErasureToCompletion(
  flow: ErasureFlow,
  request: ErasureRequestRecord,
  timeoutSeconds: number,
  verify: () => Promise<ErasureRemainder[]>,
): Promise<{ request: ErasureRequestRecord; remaining: ErasureRemainder[] }> {
  const worker = await flow.startWorker();
  try {
    await flow.reconcile();
    const done = await flow.waitFor(request.id, { timeoutMs: timeoutSeconds * 1000, intervalMs: 200 });
    return { request: done, remaining: await verify() };
  } finally {
    await worker.close();
  }
}

export function formatRequest(request: ErasureRequestRecord): string {
  const steps = request.steps.map((s) => `${s.step}:${s.status}`).join(' ');
  return `request ${request.id} (${request.subjectType} ${request.subjectId}) ${request.status} — ${steps}`;
}

function seconds(value: string): number {
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
        if (!options.wait) {
          if (options.json) printJson({ request });
          else out(`${formatRequest(request)}\nqueued: a worker running the erasure queue finishes it (or re-run with --wait)`);
          process.exitCode = EXIT.ok;
          return;
        }
        const result = await runErasureToCompletion(flow, request, timeout, () => flow.verifyErased(userId));
        if (options.json) printJson(result);
        else {
          out(formatRequest(result.request));
          out(result.remaining.length === 0 ? 'verified: nothing remains in any store' : `REMAINING: ${result.remaining.map((r) => `${r.store}/${r.kind}=${r.count}`).join(', ')}`);
        }
        process.exitCode = result.remaining.length === 0 ? EXIT.ok : EXIT.failed;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
