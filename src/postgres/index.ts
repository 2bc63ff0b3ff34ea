/**
 * `platform-data/postgres`: the PostgreSQL connection, provisioning, tenant
 * transactions and the repositories with every type they take and return.
 */
export { PostgresConnection } from './postgres-connection.js';
export { PostgresProvisioner } from './postgres-provisioner.js';
export { mapPostgresError } from './map-postgres-error.js';
export { withTenant } from './with-tenant.js';
export type { PostgresTransaction } from './postgres-transaction.js';
export type { PostgresScope } from './with-scope.js';
export { preparedStatement } from './prepared-statement.js';
export type { PreparedStatement } from './prepared-statement.js';
export type { ReencryptResult } from './repositories/reencrypt-columns.js';

export { OrganizationRepository, ORGANIZATION_TIERS, organizationSettingsSchema } from './repositories/organization-repository.js';
export type {
  OrganizationRecord,
  OrganizationTier,
  OrganizationSettings,
  CreateOrganizationInput,
  UpdateOrganizationInput,
} from './repositories/organization-repository.js';
export { UserRepository, USER_STATUSES } from './repositories/user-repository.js';
export type { UserRecord, UserStatus, UserCredentials, CreateUserInput, UpdateUserProfileInput } from './repositories/user-repository.js';
export { MembershipRepository, membershipProfileSchema } from './repositories/membership-repository.js';
export type { MembershipRecord, MembershipProfile, AddMembershipInput } from './repositories/membership-repository.js';
export { AccountRepository } from './repositories/account-repository.js';
export type { AccountMembership } from './repositories/account-repository.js';
export { SessionRepository } from './repositories/session-repository.js';
export type { SessionRecord, RevokedSession, CreateSessionInput } from './repositories/session-repository.js';
export { RefreshTokenRepository } from './repositories/refresh-token-repository.js';
export { SignInSessionRepository } from './repositories/sign-in-session-repository.js';
export type { SignInSessionInput, SignInSessionOutcome } from './repositories/sign-in-session-repository.js';
export type { RefreshTokenRecord, IssuedRefreshToken, RotatedRefreshToken } from './repositories/refresh-token-repository.js';
export { VerificationTokenRepository, VERIFICATION_PURPOSES, VERIFICATION_TTL_SECONDS } from './repositories/verification-token-repository.js';
export type { VerificationPurpose, VerificationTokenRecord } from './repositories/verification-token-repository.js';
export { EmailChangeRepository } from './repositories/email-change-repository.js';
export type { EmailChangeRecord, EmailChangeLink, EmailChangeConfirmation } from './repositories/email-change-repository.js';
export { EmailSignInCodeRepository, SIGN_IN_CODE_DIGITS } from './repositories/email-sign-in-code-repository.js';
export type { SignInCodeCheck } from './repositories/email-sign-in-code-repository.js';
export { PasskeyRepository, WEBAUTHN_CEREMONIES, AUTHENTICATOR_TRANSPORTS } from './repositories/passkey-repository.js';
export type { PasskeyRecord, PasskeySummary, NewPasskey, WebAuthnCeremony, AuthenticatorTransport } from './repositories/passkey-repository.js';
export { ApiKeyRepository } from './repositories/api-key-repository.js';
export type { ApiKeyRecord, VerifiedApiKey, CreateApiKeyInput, UpdateApiKeyInput } from './repositories/api-key-repository.js';
export { LoginAttemptRepository } from './repositories/login-attempt-repository.js';
export type { LoginAttemptReservation } from './repositories/login-attempt-repository.js';
export { AuditRepository, auditEventInputSchema } from './repositories/audit-repository.js';
export type { AuditEvent, AuditEventInput, AuditRecord, AuditQuery, AuditReadOptions } from './repositories/audit-repository.js';
export { AuditWriter } from './repositories/audit-writer.js';
export { DEFAULT_AUDIT_WRITER_OPTIONS } from '../audit-writer-options.js';
export type { AuditWriterOptions } from '../audit-writer-options.js';
export type { AuditWriterStats } from './repositories/audit-writer.js';
export { IdentityRepository, IDENTITY_PROVIDERS } from './repositories/identity-repository.js';
export type { IdentityRecord, IdentityProvider, ProviderTokens, LinkIdentityInput, UpdateProviderTokensInput } from './repositories/identity-repository.js';
export { IntegrationTokenRepository } from './repositories/integration-token-repository.js';
export { DEFAULT_INTEGRATION_TOKEN_OPTIONS } from '../integration-token-options.js';
export { MaintenanceRepository, MAINTENANCE_SWEEPS } from './repositories/maintenance-repository.js';
export type { MaintenanceRunRecord, MaintenanceSweep, SweepBatchResult } from './repositories/maintenance-repository.js';
export type {
  IntegrationTokenRecord,
  IntegrationTokenSecrets,
  SaveIntegrationTokenInput,
  IntegrationTokenReader,
} from './repositories/integration-token-repository.js';
export type {
  IntegrationTokenOptions,
  IntegrationTokenRefresher,
  IntegrationTokenRefreshRequest,
  IntegrationTokenRefreshResult,
} from '../integration-token-options.js';
export { MfaRepository } from './repositories/mfa-repository.js';
export type { MfaStatus, TotpSecret } from './repositories/mfa-repository.js';
export { MfaChallengeRepository, MFA_CHALLENGE_PURPOSES, MFA_CHALLENGE_TTL_SECONDS } from './repositories/mfa-challenge-repository.js';
export type { MfaChallengeRecord, MfaChallengePurpose, MfaChallengeFlags } from './repositories/mfa-challenge-repository.js';
export { PasswordHistoryRepository, MAX_PASSWORD_HISTORY } from './repositories/password-history-repository.js';
export { SecuritySettingsRepository, DEFAULT_SECURITY_SETTINGS } from './repositories/security-settings-repository.js';
export type { SecuritySettings, SecuritySettingsPatch } from './repositories/security-settings-repository.js';
export { PersonaRepository } from './repositories/persona-repository.js';
export type {
  PersonaRecord,
  PersonaPreference,
  VoiceCacheEntry,
  CreatePersonaInput,
  UpdatePersonaInput,
  PersonaPreferenceInput,
  VoiceCacheEntryInput,
} from './repositories/persona-repository.js';
export { ConsentRepository, CONSENT_KINDS } from './repositories/consent-repository.js';
export type { ConsentEvent, ConsentInput, ConsentKind } from './repositories/consent-repository.js';
export { ErasureRequestRepository } from './repositories/erasure-request-repository.js';
export type {
  ErasureRequestRecord,
  ErasureStepRecord,
  ErasureSubjectType,
  ErasureRequestStatus,
  ErasureStepStatus,
  OpenErasureRequestInput,
} from './repositories/erasure-request-repository.js';
export { SubjectDataRepository } from './repositories/subject-data-repository.js';
export type { SoleOwnership, RowCounts, ExportedRow } from './repositories/subject-data-repository.js';
export { SessionCacheRevocationRepository } from './repositories/session-cache-revocation-repository.js';
export type { CacheRevocation, CacheRevocationInput } from './repositories/session-cache-revocation-repository.js';
export type { MembershipInvitation, MembershipInvitationRecord } from './repositories/membership-repository.js';
export type { RevokeOptions } from './repositories/session-repository.js';
export type { RotateOptions } from './repositories/refresh-token-repository.js';
export type { StepLease, StepClaim } from './repositories/erasure-request-repository.js';
export { SigningKeyRepository, SIGNING_ALGORITHMS } from './repositories/signing-key-repository.js';
export type { NewSigningKey, SigningAlgorithm, StoredSigningKey } from './repositories/signing-key-repository.js';
export { OutboxRepository, MAX_OUTBOX_PAYLOAD_BYTES, outboxMessageInputSchema } from './repositories/outbox-repository.js';
export type { OutboxMessage } from '../outbox-message.js';
export type { OutboxMessageInput } from './repositories/outbox-repository.js';
export { OrganizationDomainRepository } from './repositories/organization-domain-repository.js';
export type { DomainJoinUser, VerifiedDomain } from './repositories/organization-domain-repository.js';
export { SsoConnectionRepository } from './repositories/sso-connection-repository.js';
export type { NewSsoConnection } from './repositories/sso-connection-repository.js';
