import type { DependencyContainer } from 'tsyringe';
import { OrganizationDataCounter } from '../mongo/organization-data-counter.js';
import { ConsentRepository } from '../postgres/repositories/consent-repository.js';
import { ErasureRequestRepository } from '../postgres/repositories/erasure-request-repository.js';
import { SubjectDataRepository } from '../postgres/repositories/subject-data-repository.js';
import { TaggedKeyScanner } from '../redis/tagged-key-scanner.js';
import { ConsentService } from './consent-service.js';
import { DEFAULT_ERASURE_FLOW_OPTIONS, ERASURE_FLOW_OPTIONS, ErasureFlow } from './erasure-flow.js';
import { UserExporter } from './user-exporter.js';

/**
 * Registers GDPR erasure/export, organization deletion and consent, with the
 * store-side helpers they need. Kept apart from registerFlows so the privacy
 * services and their options can be read (and overridden) in one place; the
 * store helpers are registered here rather than in the store folders because
 * only these flows use them.
 */
export function registerPrivacyFlows(container: DependencyContainer): void {
  container.registerSingleton(ErasureRequestRepository);
  container.registerSingleton(SubjectDataRepository);
  container.registerSingleton(OrganizationDataCounter);
  container.registerSingleton(TaggedKeyScanner);
  container.register(ERASURE_FLOW_OPTIONS, { useValue: DEFAULT_ERASURE_FLOW_OPTIONS });
  container.registerSingleton(ErasureFlow);
  container.registerSingleton(UserExporter);
  container.registerSingleton(ConsentRepository);
  container.registerSingleton(ConsentService);
}
