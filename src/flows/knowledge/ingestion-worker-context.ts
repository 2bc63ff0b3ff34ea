import { deterministicUuid } from '../../deterministic-uuid.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';

/** The user id recorded for the ingestion worker's own TenantContext (a fixed name-based UUID, not a real user). */
export const INGESTION_WORKER_USER_ID = deterministicUuid('platform-data:knowledge-ingestion-worker');

/**
 * The context a worker acts under for one job: the job's organization, and
 * only the knowledge permissions (scopes narrow the role), so a job can touch
 * nothing but that organization's knowledge.
 */
export function ingestionWorkerContext(organizationId: string): TenantContext {
  return createTenantContext({
    organizationId,
    userId: INGESTION_WORKER_USER_ID,
    role: 'developer',
    scopes: ['knowledge:read', 'knowledge:write'],
    actor: { kind: 'systemJob', name: 'knowledge-ingestion' },
  });
}
