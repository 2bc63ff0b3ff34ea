import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { authorize } from '../../tenancy/permission-policy.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { keysetPageInput, toKeysetPage, type KeysetPage, type KeysetPageInput } from '../../keyset-page.js';
import { decodeMongoCursor, encodeMongoCursor, mongoId } from './mongo-inputs.js';
import { MongoConnection } from '../mongo-connection.js';
import { MongoAccess } from './mongo-access.js';
import { CONVERSATION_STATUSES, CONVERSATION_SUMMARY_MAX_LENGTH, type ConversationDocument } from '../mongo-models.js';
import { jsonObjectInput } from '../../input-policy.js';
import { allowCrossTenant } from '../tenant-plugin.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];

export interface Conversation {
  readonly id: string;
  readonly organizationId: string;
  readonly userId: string;
  readonly personaId: string | null;
  readonly title: string;
  readonly status: ConversationStatus;
  readonly messageCount: number;
  readonly tokenCount: number;
  readonly lastMessageAt: Date;
  /** A running summary of the conversation (e.g. written by the application's model), at most 10,000 characters. */
  readonly summary: string | null;
  /** The application's own JSON fields, at most 8 KiB serialized. */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What {@link ConversationRepository.create} takes. */
export interface CreateConversationInput {
  readonly title: string;
  readonly personaId?: string;
  readonly summary?: string;
  readonly metadata?: Record<string, unknown>;
}

/** What {@link ConversationRepository.annotate} changes: an omitted field keeps its value; `summary: null` removes it. */
export interface AnnotateConversationInput {
  readonly summary?: string | null;
  /** Replaces the whole metadata object. */
  readonly metadata?: Record<string, unknown>;
}

/** A page of {@link KeysetPageInput} (`limit` 1–100, default 20) plus the filters. */
export interface ListConversationsOptions extends KeysetPageInput {
  /** Whose conversations (default: the context's user). */
  readonly userId?: string;
  readonly status?: ConversationStatus;
}

const title = z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters');
const summary = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(CONVERSATION_SUMMARY_MAX_LENGTH, `must be at most ${CONVERSATION_SUMMARY_MAX_LENGTH} characters`);
// JSON values only, no `$`/`.` top-level keys (they would be read as operators or paths), 8 KiB: metadata rides on every read of the conversation.
const metadata = jsonObjectInput(8_192, { mongoKeys: true });
const createSchema = z.object({ title, personaId: mongoId.optional(), summary: summary.optional(), metadata: metadata.optional() }).strict();
const annotateSchema = z.object({ summary: summary.nullable().optional(), metadata: metadata.optional() }).strict();
const listSchema = keysetPageInput(100, 20)
  .extend({ userId: mongoId.optional(), status: z.enum(CONVERSATION_STATUSES).optional() })
  .strict();
/** Keyset position: (lastMessageAt in ms, _id) of the last row of a page. */
const position = z.tuple([z.number().int().nonnegative(), z.string()]);

export function toConversation(r: ConversationDocument): Conversation {
  return {
    id: r._id,
    organizationId: r.organizationId,
    userId: r.userId,
    personaId: r.personaId ?? null,
    title: r.title,
    status: r.status,
    messageCount: r.messageCount,
    tokenCount: r.tokenCount,
    lastMessageAt: r.lastMessageAt,
    summary: r.summary ?? null,
    metadata: r.metadata ?? {},
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/**
 * Conversations of one organization. Every call is pinned to the context's
 * organization; a conversation of another organization behaves exactly like
 * one that does not exist (NotFoundError), so ids leak nothing.
 */
@injectable()
@accessControlled
export class ConversationRepository {
  readonly #db: MongoAccess;

  constructor(@inject(MongoConnection) mongo: MongoConnection) {
    this.#db = new MongoAccess(mongo);
  }

  /** Starts a conversation owned by the context's user. @throws ValidationError */
  @declareAccess({ requires: 'conversations:write' })
  async create(ctx: TenantContext, input: CreateConversationInput): Promise<Conversation> {
    const { organizationId, userId } = requireTenantContext(ctx);
    const data = parseInput(createSchema, input);
    return this.#db.run(async () => {
      const now = new Date();
      const doc = await this.#db.models.Conversation.create({
        // One instant for both: mongoose's timestamps would stamp createdAt a moment
        // after `now`, leaving lastMessageAt earlier than createdAt (issue 19).
        createdAt: now,
        _id: randomUUID(),
        organizationId,
        userId,
        personaId: data.personaId ?? null,
        title: data.title,
        status: 'active',
        messageCount: 0,
        tokenCount: 0,
        lastSeq: 0,
        // Set at creation so keyset pagination never meets a null sort key.
        lastMessageAt: now,
        summary: data.summary ?? null,
        metadata: data.metadata ?? {},
      });
      return toConversation(doc.toObject());
    });
  }

  /** @throws NotFoundError (also for another organization's id) */
  @declareAccess({ requires: 'conversations:read' })
  async get(ctx: TenantContext, id: string): Promise<Conversation> {
    const { organizationId } = requireTenantContext(ctx);
    const conversationId = parseInput(mongoId, id, 'id');
    const found = await this.#db.run(() => this.#db.models.Conversation.findOne({ organizationId, _id: conversationId }).lean<ConversationDocument>().exec());
    if (!found) throw new NotFoundError('conversation', conversationId);
    return toConversation(found);
  }

  /**
   * Newest activity first, keyset-paginated on (lastMessageAt desc, _id desc):
   * stable under concurrent appends (a conversation that gets a new message
   * moves to the front, it is never shown twice within one walk of older pages).
   *
   * @throws ValidationError for a bad limit or cursor
   */
  @declareAccess({ requires: 'conversations:read' })
  async listByUser(ctx: TenantContext, options: ListConversationsOptions = {}): Promise<KeysetPage<Conversation>> {
    const { organizationId, userId: self } = requireTenantContext(ctx);
    const o = parseInput(listSchema, options);
    const filter: Record<string, unknown> = { organizationId, userId: o.userId ?? self };
    if (o.status) filter.status = o.status;
    if (o.cursor) {
      const [ms, id] = decodeMongoCursor(o.cursor, position);
      const at = new Date(ms);
      filter.$or = [{ lastMessageAt: { $lt: at } }, { lastMessageAt: at, _id: { $lt: id } }];
    }
    const rows = await this.#db.run(() =>
      this.#db.models.Conversation.find(filter)
        .sort({ lastMessageAt: -1, _id: -1 })
        .limit(o.limit + 1)
        .lean<ConversationDocument[]>()
        .exec(),
    );
    return toKeysetPage(rows, o.limit, toConversation, (last) => encodeMongoCursor([last.lastMessageAt.getTime(), last._id]));
  }

  async #update(ctx: TenantContext, id: string, set: Partial<ConversationDocument>): Promise<Conversation> {
    const { organizationId } = requireTenantContext(ctx);
    authorize(ctx, 'conversations:write');
    const conversationId = parseInput(mongoId, id, 'id');
    const updated = await this.#db.run(() =>
      this.#db.models.Conversation.findOneAndUpdate({ organizationId, _id: conversationId }, { $set: set }, { returnDocument: 'after' })
        .lean<ConversationDocument>()
        .exec(),
    );
    if (!updated) throw new NotFoundError('conversation', conversationId);
    return toConversation(updated);
  }

  /** @throws ValidationError, NotFoundError */
  @declareAccess({ requires: 'conversations:write' })
  async rename(ctx: TenantContext, id: string, newTitle: string): Promise<Conversation> {
    return this.#update(ctx, id, { title: parseInput(title, newTitle, 'title') });
  }

  /**
   * Sets the conversation's summary and/or metadata (one single-document update).
   * @throws ValidationError naming `summary` (empty or over 10,000 characters) / `metadata` (not JSON, `$`/`.` keys, over 8 KiB); NotFoundError
   */
  @declareAccess({ requires: 'conversations:write' })
  async annotate(ctx: TenantContext, id: string, input: AnnotateConversationInput): Promise<Conversation> {
    const data = parseInput(annotateSchema, input);
    return this.#update(ctx, id, {
      ...(data.summary === undefined ? {} : { summary: data.summary }),
      ...(data.metadata === undefined ? {} : { metadata: data.metadata }),
    });
  }

  /** Archived conversations refuse new messages. @throws NotFoundError */
  @declareAccess({ requires: 'conversations:write' })
  async archive(ctx: TenantContext, id: string): Promise<Conversation> {
    return this.#update(ctx, id, { status: 'archived' });
  }

  /**
   * Deletes the conversation and its messages. Messages go first, so a crash
   * half-way leaves a conversation that a second call finishes deleting,
   * never messages without a conversation; a last sweep catches a message
   * whose append raced with the delete.
   *
   * @returns false when there was no such conversation in this organization
   */
  @declareAccess({ requires: 'conversations:write' })
  async delete(ctx: TenantContext, id: string): Promise<boolean> {
    const { organizationId } = requireTenantContext(ctx);
    const conversationId = parseInput(mongoId, id, 'id');
    return this.#db.run(async () => {
      const { Conversation, Message } = this.#db.models;
      const exists = await Conversation.exists({ organizationId, _id: conversationId }).exec();
      if (!exists) return false;
      await Message.deleteMany({ organizationId, conversationId }).exec();
      const { deletedCount } = await Conversation.deleteOne({ organizationId, _id: conversationId }).exec();
      await Message.deleteMany({ organizationId, conversationId }).exec();
      return deletedCount > 0;
    });
  }

  // ---- admin (GDPR export / erasure, organization deletion) ----

  /**
   * Every conversation of `userId` in every organization, streamed.
   * A scan across tenants (no index starts with userId): meant for rare, queued admin work.
   *
   * @throws TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  listAllForUser(scope: AdminScope, userId: string): AsyncIterable<Conversation> {
    assertAdminScope(scope);
    const id = parseInput(mongoId, userId, 'userId');
    const models = this.#db.models;
    return this.#db.iterate(async function* () {
      const cursor = allowCrossTenant(
        models.Conversation.find({ userId: id }).sort({ organizationId: 1, _id: 1 }).lean<ConversationDocument[]>(),
        scope,
      ).cursor();
      for await (const row of cursor) yield toConversation(row);
    });
  }

  /**
   * Deletes every conversation of `userId` (all organizations) with its
   * messages; idempotent, resumable after a crash.
   *
   * @throws TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  async deleteAllForUser(scope: AdminScope, userId: string): Promise<{ conversations: number; messages: number }> {
    assertAdminScope(scope);
    const id = parseInput(mongoId, userId, 'userId');
    return this.#db.run(async () => {
      const { Conversation, Message } = this.#db.models;
      const owned = await allowCrossTenant(
        Conversation.find({ userId: id }, { _id: 1, organizationId: 1 }).lean<Pick<ConversationDocument, '_id' | 'organizationId'>[]>(),
        scope,
      ).exec();
      const byOrganization = Map.groupBy(owned, (c) => c.organizationId);
      let messages = 0;
      let conversations = 0;
      for (const [organizationId, rows] of byOrganization) {
        const ids = rows.map((r) => r._id);
        messages += (await Message.deleteMany({ organizationId, conversationId: { $in: ids } }).exec()).deletedCount;
        conversations += (await Conversation.deleteMany({ organizationId, _id: { $in: ids } }).exec()).deletedCount;
      }
      return { conversations, messages };
    });
  }

  /** Deletes every conversation of an organization with its messages. @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async deleteAllForOrganization(scope: AdminScope, organizationId: string): Promise<{ conversations: number; messages: number }> {
    assertAdminScope(scope);
    const org = parseInput(mongoId, organizationId, 'organizationId');
    return this.#db.run(async () => {
      const messages = (await this.#db.models.Message.deleteMany({ organizationId: org }).exec()).deletedCount;
      const conversations = (await this.#db.models.Conversation.deleteMany({ organizationId: org }).exec()).deletedCount;
      return { conversations, messages };
    });
  }
}
