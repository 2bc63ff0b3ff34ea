import type { DependencyContainer } from 'tsyringe';
import { SecretBox } from '../security/secret-box.js';
import { PROVISIONER } from '../tokens.js';
import { PostgresConnection } from './postgres-connection.js';
import { PostgresProvisioner } from './postgres-provisioner.js';
import { MembershipRepository } from './repositories/membership-repository.js';
import { OrganizationRepository } from './repositories/organization-repository.js';
import { UserRepository } from './repositories/user-repository.js';
import { ApiKeyRepository } from './repositories/api-key-repository.js';
import { AuditRepository } from './repositories/audit-repository.js';
import { AUDIT_WRITER_OPTIONS, AuditWriter, DEFAULT_AUDIT_WRITER_OPTIONS } from './repositories/audit-writer.js';
import { IdentityRepository } from './repositories/identity-repository.js';
import { IntegrationTokenRepository } from './repositories/integration-token-repository.js';
import { MfaRepository } from './repositories/mfa-repository.js';
import { PasswordHistoryRepository } from './repositories/password-history-repository.js';
import { SecuritySettingsRepository } from './repositories/security-settings-repository.js';
import { PersonaRepository } from './repositories/persona-repository.js';
import { RefreshTokenRepository } from './repositories/refresh-token-repository.js';
import { SessionRepository } from './repositories/session-repository.js';
import { VerificationTokenRepository } from './repositories/verification-token-repository.js';

/** Registers the PostgreSQL connection and repositories in `container`. */
export function registerPostgres(container: DependencyContainer): void {
  container.registerSingleton(PostgresConnection);
  // One key ring per platform, shared by every repository that encrypts.
  container.registerSingleton(SecretBox);
  container.registerSingleton(PostgresProvisioner);
  container.register(PROVISIONER, { useToken: PostgresProvisioner });
  container.registerSingleton(OrganizationRepository);
  container.registerSingleton(UserRepository);
  container.registerSingleton(MembershipRepository);
  container.registerSingleton(SessionRepository);
  container.registerSingleton(RefreshTokenRepository);
  container.registerSingleton(VerificationTokenRepository);
  container.registerSingleton(ApiKeyRepository);
  container.registerSingleton(AuditRepository);
  container.register(AUDIT_WRITER_OPTIONS, { useValue: DEFAULT_AUDIT_WRITER_OPTIONS });
  container.registerSingleton(AuditWriter);
  container.registerSingleton(IdentityRepository);
  container.registerSingleton(IntegrationTokenRepository);
  container.registerSingleton(MfaRepository);
  container.registerSingleton(PasswordHistoryRepository);
  container.registerSingleton(SecuritySettingsRepository);
  container.registerSingleton(PersonaRepository);
}
