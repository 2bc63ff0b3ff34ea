import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { StoreName } from '../../errors.js';
import { AnalyticsRepository } from '../../mongo/repositories/analytics-repository.js';
import { ConversationRepository } from '../../mongo/repositories/conversation-repository.js';
import { MessageRepository } from '../../mongo/repositories/message-repository.js';
import { OrganizationDataCounter } from '../../mongo/repositories/organization-data-counter.js';
import { parseInput } from '../../parse-input.js';
import { SubjectDataRepository } from '../../postgres/repositories/subject-data-repository.js';
import { EmbeddingIndex } from '../../qdrant/repositories/embedding-index.js';
import { TaggedKeyScanner } from '../../redis/repositories/tagged-key-scanner.js';
import { AdminScope } from '../../tenancy/admin-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { organizationPointCount } from './organization-erasure-steps.js';

/** Something still held about a subject after erasure: which store, what, how many. */
export interface ErasureRemainder {
  readonly store: StoreName;
  readonly kind: string;
  readonly count: number;
}

const uuid = z.uuid();

/** Counts what the four stores still hold of an erased user or a deleted organization (empty = gone). */
@injectable()
@accessControlled
export class ErasureVerification {
  constructor(
    @inject(SubjectDataRepository) private readonly subjects: SubjectDataRepository,
    @inject(ConversationRepository) private readonly conversations: ConversationRepository,
    @inject(MessageRepository) private readonly messages: MessageRepository,
    @inject(AnalyticsRepository) private readonly analytics: AnalyticsRepository,
    @inject(OrganizationDataCounter) private readonly mongoCounter: OrganizationDataCounter,
    @inject(EmbeddingIndex) private readonly embeddings: EmbeddingIndex,
    @inject(TaggedKeyScanner) private readonly taggedKeys: TaggedKeyScanner,
  ) {}

  /**
   * Scans all four stores for anything still held about the user.
   * Qdrant holds nothing per user by model (see the `qdrant` step), so only
   * PostgreSQL, MongoDB and Redis can report remainders.
   * @returns remainders per store and kind; empty means erased
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async verifyErased(userId: string): Promise<ErasureRemainder[]> {
    const id = parseInput(uuid, userId, 'userId');
    const scope = AdminScope.create({ actor: 'erasure-verifier', reason: 'erasure verification' });
    const countOf = async (items: AsyncIterable<unknown>): Promise<number> => {
      let n = 0;
      for await (const _ of items) n++;
      return n;
    };
    const [postgres, conversations, messages, analytics, keys] = await Promise.all([
      this.subjects.countUserRows(scope, id),
      countOf(this.conversations.listAllForUser(scope, id)),
      countOf(this.messages.listAllForUser(scope, id)),
      countOf(this.analytics.listAllForUser(scope, id)),
      this.taggedKeys.list({ user: id }),
    ]);
    return [
      ...Object.entries(postgres).map(([kind, count]) => ({ store: 'postgres' as const, kind, count })),
      ...[
        { store: 'mongo' as const, kind: 'conversations', count: conversations },
        { store: 'mongo' as const, kind: 'messages', count: messages },
        { store: 'mongo' as const, kind: 'analytics_events', count: analytics },
        { store: 'redis' as const, kind: 'user-tagged keys', count: keys.length },
      ].filter((r) => r.count > 0),
    ];
  }

  /**
   * Scans all four stores for anything left of the organization (the audit
   * log is kept until retention and not reported).
   * @returns remainders per store and kind; empty means deleted
   * @throws ValidationError naming `organizationId`
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async verifyOrganizationDeleted(organizationId: string): Promise<ErasureRemainder[]> {
    const id = parseInput(uuid, organizationId, 'organizationId');
    const scope = AdminScope.create({ actor: 'erasure-verifier', reason: 'organization deletion verification' });
    const [postgres, mongo, points, keys] = await Promise.all([
      this.subjects.countOrganizationRows(scope, id),
      this.mongoCounter.count(scope, id),
      organizationPointCount(this.embeddings, scope, id),
      this.taggedKeys.list({ organization: id }),
    ]);
    return [
      ...Object.entries(postgres).map(([kind, count]) => ({ store: 'postgres' as const, kind, count })),
      ...Object.entries(mongo).map(([kind, count]) => ({ store: 'mongo' as const, kind, count })),
      ...[
        { store: 'qdrant' as const, kind: 'points', count: points },
        { store: 'redis' as const, kind: 'organization-tagged keys', count: keys.length },
      ].filter((r) => r.count > 0),
    ];
  }
}
