import { inject, injectable } from 'tsyringe';
import type { ErasureStep, ErasureStepResult } from '../../erasure-flow-options.js';
import { AnalyticsRepository } from '../../mongo/repositories/analytics-repository.js';
import { ConversationRepository } from '../../mongo/repositories/conversation-repository.js';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import { SubjectDataRepository } from '../../postgres/repositories/subject-data-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../redis/repositories/login-throttle.js';
import { TaggedKeyScanner } from '../../redis/repositories/tagged-key-scanner.js';
import type { AdminScope } from '../../tenancy/admin-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { SessionRevoker } from '../auth/session-revoker.js';

/** What each step of a user's erasure deletes, store by store (docs/privacy.md); `ErasureFlow` runs them in order. */
@injectable()
@accessControlled
export class UserErasureSteps {
  constructor(
    @inject(SessionRevoker) private readonly sessions: SessionRevoker,
    @inject(ConversationRepository) private readonly conversations: ConversationRepository,
    @inject(AnalyticsRepository) private readonly analytics: AnalyticsRepository,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(LoginThrottle) private readonly loginThrottle: LoginThrottle,
    @inject(TaggedKeyScanner) private readonly taggedKeys: TaggedKeyScanner,
    @inject(AuditRepository) private readonly audit: AuditRepository,
    @inject(SubjectDataRepository) private readonly subjects: SubjectDataRepository,
  ) {}

  /**
   * Runs `step` of a user's erasure; idempotent (deletes by subject), so a re-run after a crash is harmless.
   * @returns what the step did (counts), recorded on the request
   */
  @declareAccess({ systemJob: 'erasure worker: one step of an open erasure request' })
  async apply(scope: AdminScope, userId: string, step: ErasureStep): Promise<ErasureStepResult> {
    switch (step) {
      case 'sessions':
        // SessionRevoker: Postgres revoked_at first, then the Redis epoch, the one safe order.
        return { sessionsRevoked: await this.sessions.revokeAllForUser(userId, 'erasure') };
      case 'mongo': {
        const { conversations, messages } = await this.conversations.deleteAllForUser(scope, userId);
        const analyticsEvents = await this.analytics.deleteAllForUser(scope, userId);
        return { conversations, messages, analyticsEvents };
      }
      case 'qdrant':
        // Points carry organizationId/documentId/version/ordinal only, and knowledge documents belong to the
        // organization (no owner user in the model), so no point is personal data of a user: nothing to delete.
        return { points: 0, reason: 'knowledge is organization-owned' };
      case 'redis': {
        const user = await this.users.getById(userId);
        // The throttle key is sha256(email): only derivable while the user row (Postgres step, later) exists.
        if (user) await this.loginThrottle.reset({ email: user.email });
        return { keys: await this.taggedKeys.deleteAll({ user: userId }), loginThrottleReset: user !== undefined };
      }
      case 'postgres': {
        const auditEvents = await this.audit.pseudonymiseUser(userId);
        const deleted = await this.subjects.deleteUser(scope, userId);
        return { auditEventsPseudonymised: auditEvents, ...deleted };
      }
    }
  }
}
