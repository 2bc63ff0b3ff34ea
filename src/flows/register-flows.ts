import type { DependencyContainer } from 'tsyringe';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator.js';
import { DEFAULT_AUTH_FLOW_OPTIONS } from './auth/auth-flow-options.js';
import { DiscardingAuthNotifier } from './auth/auth-notifier.js';
import { MfaService } from './auth/mfa-service.js';
import { MfaSignIn } from './auth/mfa-sign-in.js';
import { PasswordChange } from './auth/password-change.js';
import { PasswordSignIn } from './auth/password-sign-in.js';
import { RefreshRotation } from './auth/refresh-rotation.js';
import { SessionValidator } from './auth/session-validator.js';
import { SignInBookkeeping } from './auth/sign-in-bookkeeping.js';
import { OAuthSignIn } from './auth/oauth-sign-in.js';
import { OrganizationSecurity } from './organizations/organization-security.js';
import { QueueWorkers } from './queue-workers.js';
import { Maintenance } from './operations/maintenance.js';
import { registerKnowledge } from './knowledge/register-knowledge.js';
import { registerPrivacyFlows } from './privacy/register-privacy-flows.js';
import { SessionIssuer } from './auth/session-issuer.js';
import { SessionRevoker } from './auth/session-revoker.js';
import { PasswordGate } from './auth/password-gate.js';
import { SignUpService } from './auth/sign-up-service.js';
import { StrictestPasswordPolicy } from './auth/strictest-password-policy.js';
import { VerificationService } from './auth/verification-service.js';
import { AUTH_FLOW_OPTIONS, AUTH_NOTIFIER, MAINTENANCE_OPTIONS } from '../tokens.js';

/** Registers the cross-store flows in `container`. */
export function registerFlows(container: DependencyContainer): void {
  // Singletons: the verification service tracks background work; the rest hold no per-call state.
  container.register(AUTH_FLOW_OPTIONS, { useValue: DEFAULT_AUTH_FLOW_OPTIONS });
  container.registerSingleton(AUTH_NOTIFIER, DiscardingAuthNotifier);
  // OrganizationSecurity holds the per-process settings memo: one per container.
  container.registerSingleton(OrganizationSecurity);
  container.registerSingleton(StrictestPasswordPolicy);
  container.registerSingleton(MfaService);
  container.registerSingleton(SessionRevoker);
  container.registerSingleton(SessionIssuer);
  container.registerSingleton(PasswordGate);
  container.registerSingleton(SignInBookkeeping);
  container.registerSingleton(PasswordSignIn);
  container.registerSingleton(MfaSignIn);
  // SessionValidator holds the per-process activity memo: one per container.
  container.registerSingleton(SessionValidator);
  container.registerSingleton(RefreshRotation);
  container.registerSingleton(PasswordChange);
  container.registerSingleton(SignUpService);
  container.registerSingleton(OAuthSignIn);
  container.registerSingleton(ApiKeyAuthenticator);
  container.registerSingleton(VerificationService);
  registerPrivacyFlows(container);
  registerKnowledge(container);
  container.register(MAINTENANCE_OPTIONS, { useValue: {} });
  container.registerSingleton(Maintenance);
  container.registerSingleton(QueueWorkers);
}
