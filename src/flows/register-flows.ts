import type { DependencyContainer } from 'tsyringe';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator.js';
import { DEFAULT_AUTH_FLOW_OPTIONS } from '../auth-flow-options.js';
import { DiscardingAuthNotifier } from './auth/discarding-auth-notifier.js';
import { MfaEnrollment } from './auth/mfa-enrollment.js';
import { MfaManagement } from './auth/mfa-management.js';
import { MfaService } from './auth/mfa-service.js';
import { SecondFactorCheck } from './auth/second-factor-check.js';
import { MfaSignIn } from './auth/mfa-sign-in.js';
import { PasswordChange } from './auth/password-change.js';
import { PasswordSignIn } from './auth/password-sign-in.js';
import { RefreshRotation } from './auth/refresh-rotation.js';
import { SessionValidator } from './auth/session-validator.js';
import { SignInBookkeeping } from './auth/sign-in-bookkeeping.js';
import { OAuthSignIn } from './auth/oauth-sign-in.js';
import { OrganizationSecurity } from './organizations/organization-security.js';
import { OrganizationDomains } from './organizations/organization-domains.js';
import { SsoConnections } from './organizations/sso-connections.js';
import { OutboxRelay } from './operations/outbox-relay.js';
import { DEFAULT_OUTBOX_RELAY_OPTIONS, NO_OUTBOX_EMAIL_SENDER } from '../outbox-relay-options.js';
import { OutboxAuthNotifier } from './auth/outbox-auth-notifier.js';
import { QueueWorkers } from './queue-workers.js';
import { Maintenance } from './operations/maintenance.js';
import { registerKnowledge } from './knowledge/register-knowledge.js';
import { registerPrivacyFlows } from './privacy/register-privacy-flows.js';
import { SessionIssuer } from './auth/session-issuer.js';
import { SignInTargetResolver } from './auth/sign-in-target-resolver.js';
import { SessionRevoker } from './auth/session-revoker.js';
import { PasswordGate } from './auth/password-gate.js';
import { SignUpService } from './auth/sign-up-service.js';
import { StrictestPasswordPolicy } from './auth/strictest-password-policy.js';
import { AccountCreation } from './auth/account-creation.js';
import { EmailVerification } from './auth/email-verification.js';
import { PasswordReset } from './auth/password-reset.js';
import { PasswordResetRequest } from './auth/password-reset-request.js';
import { VerificationLinks } from './auth/verification-links.js';
import { FirstFactorSignIn } from './auth/first-factor-sign-in.js';
import { DEFAULT_IDENTITY_FLOW_OPTIONS } from '../identity-flow-options.js';
import { DiscardingIdentityNotifier } from './auth/discarding-identity-notifier.js';
import { PasskeyCeremony } from './auth/passkey-ceremony.js';
import { PasskeyService } from './auth/passkey-service.js';
import { PasskeySignIn } from './auth/passkey-sign-in.js';
import { PasswordlessSignIn } from './auth/passwordless-sign-in.js';
import { EmailChangeService } from './auth/email-change-service.js';
import { AccessTokens } from './auth/access-tokens.js';
import { DEFAULT_SIGNING_KEY_OPTIONS } from '../signing-key-options.js';
import { SigningKeyRing } from './auth/signing-key-ring.js';
import {
  AUTH_FLOW_OPTIONS,
  AUTH_NOTIFIER,
  IDENTITY_FLOW_OPTIONS,
  IDENTITY_NOTIFIER,
  MAINTENANCE_OPTIONS,
  OUTBOX_EMAIL_SENDER,
  OUTBOX_RELAY_OPTIONS,
  SIGNING_KEY_OPTIONS,
} from '../tokens.js';

/** Registers the cross-store flows in `container`. */
export function registerFlows(container: DependencyContainer): void {
  // Singletons: PasswordResetRequest tracks background work; the rest hold no per-call state.
  container.register(AUTH_FLOW_OPTIONS, { useValue: DEFAULT_AUTH_FLOW_OPTIONS });
  container.registerSingleton(AUTH_NOTIFIER, DiscardingAuthNotifier);
  // OrganizationSecurity holds the per-process settings memo: one per container.
  container.registerSingleton(OrganizationSecurity);
  container.registerSingleton(StrictestPasswordPolicy);
  container.registerSingleton(MfaService);
  container.registerSingleton(SecondFactorCheck);
  container.registerSingleton(MfaEnrollment);
  container.registerSingleton(MfaManagement);
  container.registerSingleton(SessionRevoker);
  container.registerSingleton(SignInTargetResolver);
  container.registerSingleton(SessionIssuer);
  container.registerSingleton(PasswordGate);
  container.registerSingleton(SignInBookkeeping);
  container.registerSingleton(PasswordSignIn);
  container.registerSingleton(MfaSignIn);
  // SessionValidator holds the per-process activity memo: one per container.
  container.registerSingleton(SessionValidator);
  container.registerSingleton(RefreshRotation);
  container.registerSingleton(PasswordChange);
  container.registerSingleton(AccountCreation);
  container.registerSingleton(SignUpService);
  container.registerSingleton(OAuthSignIn);
  container.registerSingleton(ApiKeyAuthenticator);
  // PasswordResetRequest tracks its background work: one per container.
  container.registerSingleton(VerificationLinks);
  container.registerSingleton(EmailVerification);
  container.registerSingleton(PasswordResetRequest);
  container.registerSingleton(PasswordReset);
  // Passkeys, passwordless sign-in, email change (issue 23).
  container.register(IDENTITY_FLOW_OPTIONS, { useValue: DEFAULT_IDENTITY_FLOW_OPTIONS });
  container.registerSingleton(IDENTITY_NOTIFIER, DiscardingIdentityNotifier);
  container.registerSingleton(FirstFactorSignIn);
  container.registerSingleton(PasskeyCeremony);
  container.registerSingleton(PasskeyService);
  container.registerSingleton(PasskeySignIn);
  container.registerSingleton(PasswordlessSignIn);
  container.registerSingleton(EmailChangeService);
  // The key ring caches keys per process: one per container.
  container.register(SIGNING_KEY_OPTIONS, { useValue: DEFAULT_SIGNING_KEY_OPTIONS });
  container.registerSingleton(SigningKeyRing);
  container.registerSingleton(AccessTokens);
  container.registerSingleton(OrganizationDomains);
  container.registerSingleton(SsoConnections);
  container.register(OUTBOX_RELAY_OPTIONS, { useValue: DEFAULT_OUTBOX_RELAY_OPTIONS });
  container.register(OUTBOX_EMAIL_SENDER, { useValue: NO_OUTBOX_EMAIL_SENDER });
  // One relay loop per container; OutboxAuthNotifier is opt-in (register it under AUTH_NOTIFIER).
  container.registerSingleton(OutboxRelay);
  container.registerSingleton(OutboxAuthNotifier);
  registerPrivacyFlows(container);
  registerKnowledge(container);
  container.register(MAINTENANCE_OPTIONS, { useValue: {} });
  container.registerSingleton(Maintenance);
  container.registerSingleton(QueueWorkers);
}
