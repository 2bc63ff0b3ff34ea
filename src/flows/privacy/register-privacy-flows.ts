import type { DependencyContainer } from 'tsyringe';
import { ConsentService } from './consent-service.js';
import { DEFAULT_ERASURE_FLOW_OPTIONS } from '../../erasure-flow-options.js';
import { ErasureFlow } from './erasure-flow.js';
import { ErasureVerification } from './erasure-verification.js';
import { OrganizationErasureSteps } from './organization-erasure-steps.js';
import { UserErasureSteps } from './user-erasure-steps.js';
import { UserExporter } from './user-exporter.js';
import { ERASURE_FLOW_OPTIONS } from '../../tokens.js';

/**
 * Registers GDPR erasure/export, organization deletion and consent. Kept
 * apart from registerFlows so the privacy services and their options can be
 * read (and overridden) in one place; the store-side pieces they use are
 * registered by their store folders like every other repository.
 */
export function registerPrivacyFlows(container: DependencyContainer): void {
  container.register(ERASURE_FLOW_OPTIONS, { useValue: DEFAULT_ERASURE_FLOW_OPTIONS });
  container.registerSingleton(UserErasureSteps);
  container.registerSingleton(OrganizationErasureSteps);
  container.registerSingleton(ErasureVerification);
  container.registerSingleton(ErasureFlow);
  container.registerSingleton(UserExporter);
  container.registerSingleton(ConsentService);
}
