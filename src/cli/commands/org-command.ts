import type { Command } from 'commander';
import { ErasureFlow } from '../../flows/erasure-flow.js';
import { OrganizationRepository } from '../../postgres/repositories/organization-repository.js';
import { ValidationError } from '../../errors.js';
import { EXIT, out, printJson, reportError } from '../cli-output.js';
import { formatRequest, runErasureToCompletion, startCliPlatform } from './user-command.js';

/**
 * `platform-data org delete <id> --confirm <slug> [--wait]`: deletes an
 * organization in all four stores. `--confirm` must repeat the slug, so an id
 * pasted from the wrong row cannot delete a tenant. Exit 0 deleted/queued,
 * 1 failure or something remains, 2 bad configuration.
 */
export function registerOrgCommand(program: Command): void {
  const org = program.command('org').description('organization administration');
  org
    .command('delete <organizationId>')
    .description('delete an organization and all of its data in every store (resumable, verified)')
    .requiredOption('--confirm <slug>', "the organization's slug, typed again")
    .option('--reason <text>', 'why (stored with the request)', 'requested via CLI')
    .option('--wait', 'run the erasure worker here until done, then verify every store')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '300')
    .option('--json', 'print JSON')
    .action(async (organizationId: string, options: { confirm: string; reason: string; wait?: boolean; timeout: string; json?: boolean }) => {
      try {
        const timeout = Number(options.timeout);
        if (!Number.isFinite(timeout) || timeout <= 0) throw new Error(`--timeout must be a positive number of seconds, got "${options.timeout}"`);
        await using platform = await startCliPlatform();
        const flow = platform.resolve(ErasureFlow);
        const organization = await platform.resolve(OrganizationRepository).getById(organizationId);
        // A finished deletion has no row left to compare with; deleteOrganization then returns the completed request.
        if (organization && organization.slug !== options.confirm) {
          throw new ValidationError([{ path: 'confirm', message: `does not match the organization's slug` }]);
        }
        const request = await flow.deleteOrganization(organizationId, { reason: options.reason, requestedBy: 'cli' });
        if (!options.wait) {
          if (options.json) printJson({ request });
          else out(`${formatRequest(request)}\nqueued: a worker running the erasure queue finishes it (or re-run with --wait)`);
          process.exitCode = EXIT.ok;
          return;
        }
        const result = await runErasureToCompletion(flow, request, timeout, () => flow.verifyOrganizationDeleted(organizationId));
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
