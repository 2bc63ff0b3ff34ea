import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { ValidationError } from '../../errors.js';
import { MAINTENANCE_JOBS, Maintenance, type MaintenanceJob } from '../../flows/operations/maintenance.js';
import { createLogger } from '../../logger.js';
import { createPlatform } from '../../platform.js';
import { EXIT, out, printJson, reportError, table } from '../cli-output.js';

function parseJobs(value: string | undefined): MaintenanceJob[] | undefined {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new ValidationError([{ path: '--job', message: `must name at least one job (${MAINTENANCE_JOBS.join(', ')})` }]);
  for (const n of names) {
    if (!(MAINTENANCE_JOBS as readonly string[]).includes(n))
      throw new ValidationError([{ path: '--job', message: `unknown job "${n}" (expected ${MAINTENANCE_JOBS.join(', ')})` }]);
  }
  return names as MaintenanceJob[];
}

/** `platform-data maintenance run|status`: one maintenance pass now, or the last run of each job. */
export function registerMaintenanceCommand(program: Command): void {
  const maintenance = program.command('maintenance').description('retention and purge jobs (scheduled by `platform-data worker`)');
  maintenance
    .command('run')
    .description('run every maintenance job once (or the --job ones); safe next to running workers')
    .option('--job <names>', `comma-separated: ${MAINTENANCE_JOBS.join(',')}`)
    .option('--json', 'print JSON')
    .action(async (options: { job?: string; json?: boolean }) => {
      try {
        const jobs = parseJobs(options.job);
        await using platform = createPlatform(loadConfig(process.env), { stores: ['postgres'], logger: createLogger('silent') });
        await platform.start();
        const results = await platform.resolve(Maintenance).run(jobs);
        if (options.json) printJson(results);
        else {
          out(
            table(
              ['job', 'status', 'rows', 'batches', 'ms', 'error'],
              results.map((r) => [r.job, r.status, String(r.rowsAffected), String(r.batches), String(r.ms), r.error ?? '']),
            ),
          );
        }
        process.exitCode = results.some((r) => r.status === 'failed') ? EXIT.failed : EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
  maintenance
    .command('status')
    .description('the last run of each maintenance job (from maintenance_runs)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      try {
        await using platform = createPlatform(loadConfig(process.env), { stores: ['postgres'], logger: createLogger('silent') });
        await platform.start();
        const runs = await platform.resolve(Maintenance).lastRuns();
        if (options.json) printJson(runs);
        else {
          out(
            table(
              ['job', 'status', 'started', 'ms', 'rows', 'error'],
              runs.map((r) => [
                r.job,
                r.status,
                r.startedAt.toISOString(),
                r.finishedAt ? String(r.finishedAt.getTime() - r.startedAt.getTime()) : '-',
                String(r.rowsAffected),
                r.error ?? '',
              ]),
            ),
          );
        }
        process.exitCode = EXIT.ok;
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
