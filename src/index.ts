import './require-node-24.js';
/**
 * `platform-data`: the platform (createPlatform, options, health), config,
 * errors, DI tokens, security primitives, tenancy, and the cross-store flows
 * (auth, knowledge, privacy). Store-specific connections, repositories and
 * their types are in `platform-data/postgres`, `/mongo`, `/qdrant`, `/redis`;
 * the migrator in `platform-data/migrator`; the local stack in
 * `platform-data/testing`. See docs/architecture.md, "Public API".
 */
import 'reflect-metadata';

// The platform and its options
export { createPlatform, Platform } from './platform.js';
export type { PlatformHealth } from './platform.js';
export { platformOptionsSchema, STORE_NAMES } from './platform-options.js';
export type { PlatformOptions } from './platform-options.js';
export { Lifecycle } from './lifecycle.js';
export { createHealthHandler } from './create-health-handler.js';
export { bootstrapPlatform } from './flows/bootstrap-platform.js';
export type { BootstrapOptions, StoreBootstrapResult } from './flows/bootstrap-platform.js';
export type { StoreConnection, StoreHealth, StoreNodeHealth } from './store-connection.js';
export type { ProvisionStep, StoreProvisioner } from './store-provisioner.js';
export * from './tokens.js';

// Configuration and logging
export { loadConfig, redactConfig, CONFIG_DEFAULTS, LOG_LEVELS } from './config.js';
export type { Config, EncryptionKey, LogLevel, MaintenanceConfig, RedisNodeAddress } from './config.js';
export type { KeysetPage, KeysetPageInput } from './keyset-page.js';
export { redactUrl } from './redact-url.js';
export { Secret } from './secret.js';
export { createLogger } from './logger.js';
export type { Logger, LogFields } from './logger.js';
export { deterministicUuid } from './deterministic-uuid.js';

// Errors: every class a caller of this entry may catch (MigrationError is in platform-data/migrator)
export * from './errors.js';
export { RedisReplyError } from './redis/map-redis-error.js';
export { RefreshTokenReusedError } from './postgres/repositories/refresh-token-reused-error.js';

// Security primitives
export { PasswordHasher, BCRYPT_MAX_PASSWORD_BYTES, DEFAULT_BCRYPT_COST } from './security/password-hasher.js';
export type { PasswordHasherConfig } from './security/password-hasher.js';
export { PasswordPolicy, isCommonPassword, passwordPolicyOptionsSchema, PASSWORD_RULES } from './security/password-policy.js';
export type {
  PasswordRule,
  PasswordPolicyOptions,
  PasswordPolicyInput,
  PasswordCheckContext,
  PasswordCheckResult,
  PasswordViolation,
} from './security/password-policy.js';
export {
  generateSecretToken,
  hashToken,
  tokensEqual,
  tokenMatchesHash,
  generateApiKey,
  parseApiKey,
  SECRET_TOKEN_BYTES,
  API_KEY_SCHEME,
} from './security/secret-token.js';
export type { GeneratedApiKey, ParsedApiKey } from './security/secret-token.js';
export { SecretBox, SECRET_BOX_VERSION } from './security/secret-box.js';
export type { SecretBoxConfig } from './security/secret-box.js';
export { Totp, TOTP_DIGITS, TOTP_PERIOD_SECONDS, TOTP_WINDOW_STEPS } from './security/totp.js';
export type { TotpVerification, TotpVerifyOptions } from './security/totp.js';
export { generateRecoveryCodes, hashRecoveryCode, matchRecoveryCode, normalizeRecoveryCode, DEFAULT_RECOVERY_CODE_COUNT } from './security/recovery-codes.js';
export type { RecoveryCodes } from './security/recovery-codes.js';
export { LockoutPolicy } from './security/lockout-policy.js';
export type { LockoutPolicyConfig } from './security/lockout-policy.js';
export { isIpAllowed } from './security/is-ip-allowed.js';

// Tenancy
export { createTenantContext, isTenantContext, tenantContextSchema } from './tenancy/tenant-context.js';
export type { Actor, ActorKind } from './tenancy/actor.js';
export { PERMISSION_MATRIX } from './tenancy/permission-matrix.js';
export type { PermissionRule } from './tenancy/permission-matrix.js';
export { accessControlled, accessDeclarationsOf, declareAccess } from './tenancy/declare-access.js';
export type { AccessDeclaration, AccessKind } from './tenancy/declare-access.js';
export type { TenantContext, TenantContextInput } from './tenancy/tenant-context.js';
export { requireTenantContext } from './tenancy/require-tenant-context.js';
export { MEMBERSHIP_ROLES } from './tenancy/membership-role.js';
export type { MembershipRole } from './tenancy/membership-role.js';
export { AdminScope, assertAdminScope } from './tenancy/admin-scope.js';
export { authorize, isAllowed, PERMISSIONS, ROLE_PERMISSIONS } from './tenancy/permission-policy.js';
export type { Permission } from './tenancy/permission-policy.js';

// Auth flows
export { PasswordSignIn } from './flows/auth/password-sign-in.js';
export type { LoginResult, SignedInResult } from './flows/auth/password-sign-in.js';
export { MfaSignIn } from './flows/auth/mfa-sign-in.js';
export type { EnrolledSignInResult, SecondFactorResult } from './flows/auth/mfa-sign-in.js';
export { PasswordChangeTickets, PASSWORD_CHANGE_TICKET_TTL_SECONDS } from './flows/auth/password-change-tickets.js';
export type { PasswordChangeRequiredResult, PasswordChangeReason } from './flows/auth/password-change-tickets.js';
export type { MfaChallengeResult, MfaEnrollmentRequiredResult } from './flows/auth/mfa-service.js';
export { SessionValidator, ACTIVITY_WRITE_INTERVAL_MS } from './flows/auth/session-validator.js';
export type { ValidatedSession } from './flows/auth/session-validator.js';
export { RefreshRotation } from './flows/auth/refresh-rotation.js';
export type { RefreshResult } from './flows/auth/refresh-rotation.js';
export { SignInBookkeeping } from './flows/auth/sign-in-bookkeeping.js';
export type { SignInAttempt, SignInFailureReason, SignInFailureOptions, LoginSucceededEvent } from './flows/auth/sign-in-bookkeeping.js';
export { PasswordChange } from './flows/auth/password-change.js';
export type { PasswordChanged } from './flows/auth/password-change.js';
export { expectSignedIn } from './flows/auth/expect-signed-in.js';
export { MfaService } from './flows/auth/mfa-service.js';
export { MfaEnrollment } from './flows/auth/mfa-enrollment.js';
export type { TotpEnrollment, TotpEnabled } from './flows/auth/mfa-enrollment.js';
export { MfaManagement } from './flows/auth/mfa-management.js';
export type { TotpDisabled } from './flows/auth/mfa-management.js';
export { SecondFactorCheck } from './flows/auth/second-factor-check.js';
export type { MfaProof, MfaMethod } from './flows/auth/second-factor-check.js';
export type { SecondFactorPurpose } from './flows/auth/mfa-service.js';
export { OrganizationSecurity, IP_NOT_ALLOWED_RISK, SECURITY_SETTINGS_MEMO_MS } from './flows/organizations/organization-security.js';
export type { IpCheck } from './flows/organizations/organization-security.js';
export {
  OrganizationDomains,
  AUTO_JOIN_ROLES,
  CONSUMER_EMAIL_DOMAINS,
  DNS_LOOKUP_TIMEOUT_MS,
  domainChallengeRecordName,
  domainChallengeRecordValue,
} from './flows/organizations/organization-domains.js';
export type { AutoJoinRole, DomainJoinResult, OrganizationDomain, TxtLookup } from './flows/organizations/organization-domains.js';
export { SsoConnections, ssoConnectionInputSchema } from './flows/organizations/sso-connections.js';
export type { SsoClientCredentials, SsoConnection, SsoConnectionInput, SsoRoute } from './flows/organizations/sso-connections.js';
export { StrictestPasswordPolicy } from './flows/auth/strictest-password-policy.js';
export type { UserPasswordPolicy } from './flows/auth/strictest-password-policy.js';
export { SessionIssuer } from './flows/auth/session-issuer.js';
export { SignInTargetResolver } from './flows/auth/sign-in-target-resolver.js';
export type { SignInResult, SessionOrganization, IssueOptions } from './flows/auth/session-issuer.js';
export type { SignInTarget } from './flows/auth/sign-in-target-resolver.js';
export { SessionRevoker } from './flows/auth/session-revoker.js';
export type { RevocationWithin, SessionToEvict } from './flows/auth/session-revoker.js';
export { SignUpService } from './flows/auth/sign-up-service.js';
export type { SignUpInput, CreateAccountInput } from './flows/auth/sign-up-service.js';
export { AccountCreation } from './flows/auth/account-creation.js';
export type { AccountCreationInput, CreatedAccount } from './flows/auth/account-creation.js';
export { PasswordGate } from './flows/auth/password-gate.js';
export type { PasswordVerdict, LockoutState } from './flows/auth/password-gate.js';
export { OAuthSignIn, OAUTH_SIGN_IN_PROVIDERS } from './flows/auth/oauth-sign-in.js';
export type { OAuthProfile, OAuthSignInResult, OAuthSignInOutcome, OAuthSignInProvider } from './flows/auth/oauth-sign-in.js';
export { ApiKeyAuthenticator } from './flows/auth/api-key-authenticator.js';
export type { ApiKeyAuthentication } from './flows/auth/api-key-authenticator.js';
export { EmailVerification } from './flows/auth/email-verification.js';
export { VerificationLinks } from './flows/auth/verification-links.js';
export { PasswordResetRequest } from './flows/auth/password-reset-request.js';
export { PasswordReset } from './flows/auth/password-reset.js';
export type { EmailRequestAccepted } from './flows/auth/email-request-accepted.js';
export { DEFAULT_AUTH_FLOW_OPTIONS, authFlowOptionsSchema } from './auth-flow-options.js';
export type { AuthFlowOptions } from './auth-flow-options.js';
export { DiscardingAuthNotifier } from './flows/auth/discarding-auth-notifier.js';
export type { AuthNotifier, AuthMessage, AccountNotice, AccountLockedNotice } from './auth-notifier.js';
export { clientContextSchema } from './flows/auth/client-context.js';
// Passkeys, passwordless sign-in and email change (issue 23)
export { PasskeyService } from './flows/auth/passkey-service.js';
export { PasskeySignIn } from './flows/auth/passkey-sign-in.js';
export { PasskeyCeremony, registrationResponseSchema, authenticationResponseSchema } from './flows/auth/passkey-ceremony.js';
export type { VerifiedAssertion } from './flows/auth/passkey-ceremony.js';
export { PasswordlessSignIn } from './flows/auth/passwordless-sign-in.js';
export type { EmailSignInMethod } from './flows/auth/passwordless-sign-in.js';
export { EmailChangeService } from './flows/auth/email-change-service.js';
export type { EmailChangeRequested, EmailChangeConfirmed } from './flows/auth/email-change-service.js';
export { FirstFactorSignIn } from './flows/auth/first-factor-sign-in.js';
export type { FirstFactorSignInResult, FirstFactorMethod } from './flows/auth/first-factor-sign-in.js';
export { DEFAULT_IDENTITY_FLOW_OPTIONS, identityFlowOptionsSchema } from './identity-flow-options.js';
export type { IdentityFlowOptions } from './identity-flow-options.js';
export { DiscardingIdentityNotifier } from './flows/auth/discarding-identity-notifier.js';
export type { IdentityNotifier, SignInCodeMessage, EmailChangeMessage } from './identity-notifier.js';
export type { ClientContext, ParsedClientContext } from './flows/auth/client-context.js';
export { scoreLoginRisk, scoreFailedLoginRisk, REFRESH_REUSE_RISK } from './flows/auth/login-risk.js';
export type { LoginRiskSignals } from './flows/auth/login-risk.js';
export { AccessTokens } from './flows/auth/access-tokens.js';
export type { AccessTokenSubject, SignedAccessToken, VerifiedAccessToken } from './flows/auth/access-tokens.js';
export { SigningKeyRing } from './flows/auth/signing-key-ring.js';
export type { ActiveSigningKey, JsonWebKeySet, PublicJwk, VerificationKey } from './flows/auth/signing-key-ring.js';
export { DEFAULT_SIGNING_KEY_OPTIONS, signingKeyOptionsSchema } from './signing-key-options.js';
export type { SigningKeyOptions } from './signing-key-options.js';
export { OutboxAuthNotifier, AUTH_OUTBOX_TOPICS } from './flows/auth/outbox-auth-notifier.js';
export { OutboxRelay, signWebhook } from './flows/operations/outbox-relay.js';
export type { OutboxRound } from './flows/operations/outbox-relay.js';
export { DEFAULT_OUTBOX_RELAY_OPTIONS, NO_OUTBOX_EMAIL_SENDER, outboxRelayOptionsSchema } from './outbox-relay-options.js';
export type { OutboxEmailSender, OutboxRelayOptions } from './outbox-relay-options.js';

// Knowledge flows
export type { Embedder } from './embedder.js';
export { HashingEmbedder } from './flows/knowledge/hashing-embedder.js';
export type { HashingEmbedderOptions } from './flows/knowledge/hashing-embedder.js';
export type { TextSplitter } from './text-splitter.js';
export { LangchainTextSplitter, DEFAULT_SPLIT_SEPARATORS } from './flows/knowledge/langchain-text-splitter.js';
export type { LangchainTextSplitterOptions } from './flows/knowledge/langchain-text-splitter.js';
export { estimateTokenCount } from './flows/knowledge/estimate-token-count.js';
export { KnowledgeIngestion } from './flows/knowledge/knowledge-ingestion.js';
export { IngestionJobProcessor } from './flows/knowledge/ingestion-job-processor.js';
export { KnowledgeReconciler } from './flows/knowledge/knowledge-reconciler.js';
export { KnowledgeConsistencyCheck } from './flows/knowledge/knowledge-consistency-check.js';
export { DEFAULT_KNOWLEDGE_INGESTION_OPTIONS } from './knowledge-ingestion-options.js';
export type { KnowledgeIngestionOptions } from './knowledge-ingestion-options.js';
export type {
  IngestDocumentInput,
  IngestDocumentResult,
  KnowledgeDocumentRef,
  WaitForIndexingOptions,
  WaitForIndexingResult,
  ReindexResult,
} from './flows/knowledge/knowledge-ingestion.js';
export type { OrganizationIdsProvider, ReconcileKnowledgeOptions, ReconcileKnowledgeResult } from './flows/knowledge/knowledge-reconciler.js';
export type { DocumentConsistency, ConsistencyReport } from './flows/knowledge/knowledge-consistency-check.js';
export { INGESTION_QUEUE, ingestionJobId } from './flows/knowledge/ingestion-queue.js';
export type { IngestionJobData } from './flows/knowledge/ingestion-queue.js';
export { MAINTENANCE_QUEUE } from './flows/operations/maintenance-queue.js';
export type { MaintenanceJobData } from './flows/operations/maintenance-queue.js';
export { KnowledgeSearch } from './flows/knowledge/knowledge-search.js';
export type { SemanticSearchOptions, SemanticSearchHit } from './flows/knowledge/knowledge-search.js';
export { DEFAULT_EMBEDDING_DIMENSION } from './flows/knowledge/register-knowledge.js';
export { QueueWorkers } from './flows/queue-workers.js';
export type { QueueWorkersOptions, WorkerQueue } from './flows/queue-workers.js';
export { Maintenance, MAINTENANCE_JOBS } from './flows/operations/maintenance.js';
export type { MaintenanceJob, MaintenanceJobResult } from './flows/operations/maintenance.js';
export type { MaintenanceOptions } from './maintenance-options.js';

// Privacy flows
export { ErasureFlow } from './flows/privacy/erasure-flow.js';
export { ErasureVerification } from './flows/privacy/erasure-verification.js';
export { UserErasureSteps } from './flows/privacy/user-erasure-steps.js';
export { OrganizationErasureSteps } from './flows/privacy/organization-erasure-steps.js';
export { ERASURE_STEPS, DEFAULT_ERASURE_FLOW_OPTIONS } from './erasure-flow-options.js';
export type { ErasureStep, ErasureStepResult, ErasureFlowOptions, ErasureStepEvent } from './erasure-flow-options.js';
export type { EraseOptions } from './flows/privacy/erasure-flow.js';
export type { ErasureRemainder } from './flows/privacy/erasure-verification.js';
export { ERASURE_QUEUE } from './flows/privacy/erasure-queue.js';
export type { ErasureJobData } from './flows/privacy/erasure-queue.js';
export { UserExporter } from './flows/privacy/user-exporter.js';
export type { ExportLine, ExportManifest } from './flows/privacy/user-exporter.js';
export { ConsentService, GUARDIAN_CONSENT_METHODS } from './flows/privacy/consent-service.js';
export type { CreateUserWithConsentInput } from './flows/privacy/consent-service.js';
