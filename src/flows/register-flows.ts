import type { DependencyContainer } from 'tsyringe';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { DEFAULT_AUTH_FLOW_OPTIONS } from './auth-flow-options.js';
import { DiscardingAuthNotifier } from './auth-notifier.js';
import { AuthService } from './auth-service.js';
import { MfaService } from './mfa-service.js';
import { OAuthSignIn } from './oauth-sign-in.js';
import { OrganizationSecurity } from './organization-security.js';
import { QueueWorkers } from './queue-workers.js';
import { registerKnowledge } from './register-knowledge.js';
import { registerPrivacyFlows } from './register-privacy-flows.js';
import { SessionIssuer } from './session-issuer.js';
import { SessionRevoker } from './session-revoker.js';
import { PasswordGate } from './password-gate.js';
import { SignUpService } from './sign-up-service.js';
import { StrictestPasswordPolicy } from './strictest-password-policy.js';
import { VerificationService } from './verification-service.js';
import { AUTH_FLOW_OPTIONS, AUTH_NOTIFIER } from '../tokens.js';

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
  container.registerSingleton(AuthService);
  container.registerSingleton(SignUpService);
  container.registerSingleton(OAuthSignIn);
  container.registerSingleton(ApiKeyAuthenticator);
  container.registerSingleton(VerificationService);
  registerPrivacyFlows(container);
  registerKnowledge(container);
  container.registerSingleton(QueueWorkers);
}
