import type { Command } from 'commander';
import { ErasureFlow } from '../../flows/privacy/erasure-flow.js';
import { OrganizationRepository } from '../../postgres/repositories/organization-repository.js';
import { ValidationError } from '../../errors.js';
import { reportError } from '../cli-output.js';
import { finishErasure } from './finish-erasure.js';
import { startCliPlatform } from './start-cli-platform.js';
import { seconds } from './user-command.js';

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
        const timeout = seconds(options.timeout);
        await using platform = await startCliPlatform();
        const flow = platform.resolve(ErasureFlow);
        const organization = await platform.resolve(OrganizationRepository).getById(organizationId);
        // A finished deletion has no row left to compare with; deleteOrganization then returns the completed request.
        if (organization && organization.slug !== options.confirm) {
          throw new ValidationError([{ path: 'confirm', message: `does not match the organization's slug` }]);
        }
        const request = await flow.deleteOrganization(organizationId, { reason: options.reason, requestedBy: 'cli' });
        process.exitCode = await finishErasure(flow, request, { wait: options.wait, json: options.json, timeoutSeconds: timeout }, () =>
          flow.verifyOrganizationDeleted(organizationId),
        );
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
