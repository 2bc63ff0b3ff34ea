import { inject, injectable } from 'tsyringe';
import type { ErasureStep, ErasureStepResult } from '../../erasure-flow-options.js';
import { NotFoundError } from '../../errors.js';
import { AnalyticsRepository } from '../../mongo/repositories/analytics-repository.js';
import { ConversationRepository } from '../../mongo/repositories/conversation-repository.js';
import { KnowledgeChunkRepository } from '../../mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from '../../mongo/repositories/knowledge-document-repository.js';
import { MessageRepository } from '../../mongo/repositories/message-repository.js';
import { SubjectDataRepository } from '../../postgres/repositories/subject-data-repository.js';
import { EmbeddingIndex } from '../../qdrant/repositories/embedding-index.js';
import { TaggedKeyScanner } from '../../redis/repositories/tagged-key-scanner.js';
import type { AdminScope } from '../../tenancy/admin-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { SessionRevoker } from '../auth/session-revoker.js';

/** Points of the organization; 0 when the collection was never provisioned (then there is nothing to delete). */
export async function organizationPointCount(embeddings: EmbeddingIndex, scope: AdminScope, organizationId: string): Promise<number> {
  try {
    return await embeddings.countByOrganization(scope, organizationId);
  } catch (error) {
    if (error instanceof NotFoundError) return 0;
    throw error;
  }
}

/**
 * What each step of an organization's deletion deletes, store by store (docs/privacy.md); `ErasureFlow`
 * runs them in order. Nine dependencies, with a reason: one per kind of data the organization holds in
 * the four stores, each deleted by its own repository; none is a second concern.
 */
@injectable()
@accessControlled
export class OrganizationErasureSteps {
  constructor(
    @inject(SubjectDataRepository) private readonly subjects: SubjectDataRepository,
    @inject(SessionRevoker) private readonly sessions: SessionRevoker,
    @inject(MessageRepository) private readonly messages: MessageRepository,
    @inject(ConversationRepository) private readonly conversations: ConversationRepository,
    @inject(KnowledgeChunkRepository) private readonly chunks: KnowledgeChunkRepository,
    @inject(KnowledgeDocumentRepository) private readonly documents: KnowledgeDocumentRepository,
    @inject(AnalyticsRepository) private readonly analytics: AnalyticsRepository,
    @inject(EmbeddingIndex) private readonly embeddings: EmbeddingIndex,
    @inject(TaggedKeyScanner) private readonly taggedKeys: TaggedKeyScanner,
  ) {}

  /**
   * Runs `step` of an organization's deletion; idempotent (deletes by subject), so a re-run after a crash is harmless.
   * @returns what the step did (counts), recorded on the request
   */
  @declareAccess({ systemJob: 'erasure worker: one step of an open erasure request' })
  async apply(scope: AdminScope, organizationId: string, step: ErasureStep): Promise<ErasureStepResult> {
    switch (step) {
      case 'sessions': {
        await this.subjects.markOrganizationDeleted(scope, organizationId);
        const sessions = await this.subjects.revokeOrganizationSessions(scope, organizationId, 'organization deleted');
        for (const s of sessions) await this.sessions.evictSession(s);
        return { sessionsEvicted: sessions.length };
      }
      case 'mongo': {
        // Messages and chunks before their parents, so a crash never leaves children without a parent to find them by.
        const messages = await this.messages.deleteAllForOrganization(scope, organizationId);
        const conversations = await this.conversations.deleteAllForOrganization(scope, organizationId);
        const chunks = await this.chunks.deleteAllForOrganization(scope, organizationId);
        const documents = await this.documents.deleteAllForOrganization(scope, organizationId);
        const analyticsEvents = await this.analytics.deleteAllForOrganization(scope, organizationId);
        return { messages: messages + conversations.messages, conversations: conversations.conversations, chunks, documents, analyticsEvents };
      }
      case 'qdrant': {
        const points = await organizationPointCount(this.embeddings, scope, organizationId);
        if (points > 0) await this.embeddings.deleteByOrganization(scope, organizationId);
        return { points };
      }
      case 'redis':
        return { keys: await this.taggedKeys.deleteAll({ organization: organizationId }) };
      case 'postgres':
        return { ...(await this.subjects.deleteOrganization(scope, organizationId)) };
    }
  }
}
