import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { keysetPageInput, toKeysetPage, type KeysetPage, type KeysetPageInput } from '../../keyset-page.js';
import { decodeMongoCursor, encodeMongoCursor, mongoId } from './mongo-inputs.js';
import { MongoConnection } from '../mongo-connection.js';
import { MongoAccess } from './mongo-access.js';
import { MESSAGE_ROLES, MODEL_NAME_MAX_LENGTH, type ConversationDocument, type MessageDocument } from '../mongo-models.js';
import { allowCrossTenant } from '../tenant-plugin.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export type MessageRole = (typeof MESSAGE_ROLES)[number];

export interface Message {
  readonly id: string;
  readonly organizationId: string;
  readonly conversationId: string;
  /** 1, 2, 3 … per conversation, handed out atomically by the conversation document. */
  readonly seq: number;
  readonly role: MessageRole;
  readonly content: string;
  readonly tokenCount: number;
  /** What produced the message (model, token counts, latency), or null. */
  readonly metadata: MessageMetadata | null;
  readonly createdAt: Date;
}

/** What produced a message, as the application measured it; every field optional. */
export interface MessageMetadata {
  /** The model's name as its provider spells it (e.g. `gpt-4o-2024-08-06`), 1–200 characters. */
  readonly model?: string;
  /** Input tokens the model was billed for (OpenAI `usage.prompt_tokens`, Anthropic `usage.input_tokens`). */
  readonly promptTokens?: number;
  /** Output tokens (OpenAI `usage.completion_tokens`, Anthropic `usage.output_tokens`). */
  readonly completionTokens?: number;
  /** Time to the complete answer, in milliseconds. */
  readonly latencyMs?: number;
}

export interface AppendMessageInput {
  readonly role: MessageRole;
  readonly content: string;
  readonly tokenCount?: number;
  readonly metadata?: MessageMetadata;
}

const tokens = z.number().int('must be an integer').min(0).max(10_000_000);
const appendSchema = z
  .object({
    role: z.enum(MESSAGE_ROLES),
    // Well below MongoDB's 16 MB document limit, leaving room for the other fields.
    content: z.string().min(1, 'must not be empty').max(1_000_000, 'must be at most 1,000,000 characters'),
    tokenCount: z.number().int('must be an integer').min(0).max(10_000_000).default(0),
    metadata: z
      .object({
        model: z.string().trim().min(1).max(MODEL_NAME_MAX_LENGTH).optional(),
        promptTokens: tokens.optional(),
        completionTokens: tokens.optional(),
        // An hour: no single answer is waited for longer (and a larger value is a unit mistake, seconds vs µs).
        latencyMs: z.number().int('must be an integer').min(0).max(3_600_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
const pageSchema = keysetPageInput(200, 50);
/** Keyset position: the seq of the oldest message of a page. */
const position = z.tuple([z.number().int().min(1)]);

export function toMessage(r: MessageDocument): Message {
  return {
    id: r._id,
    organizationId: r.organizationId,
    conversationId: r.conversationId,
    seq: r.seq,
    role: r.role,
    content: r.content,
    tokenCount: r.tokenCount,
    metadata: r.metadata ?? null,
    createdAt: r.createdAt,
  };
}

/** Messages, one document each (never an array inside the conversation). */
@injectable()
@accessControlled
export class MessageRepository {
  readonly #db: MongoAccess;

  constructor(@inject(MongoConnection) mongo: MongoConnection) {
    this.#db = new MongoAccess(mongo);
  }

  /**
   * Appends a message. One single-document update on the conversation hands
   * out the sequence number (`$inc lastSeq`) and updates messageCount,
   * tokenCount and lastMessageAt together; the message is then inserted with
   * that seq. No transaction: if the insert fails after the update, the
   * sequence has a gap and the counters are one ahead — never two messages
   * with one seq (unique index), never a lost counter update under concurrency.
   *
   * @throws ValidationError, NotFoundError (no such conversation in this organization),
   *   ConflictError (the conversation is archived)
   */
  @declareAccess({ requires: 'conversations:write' })
  async append(ctx: TenantContext, conversationId: string, input: AppendMessageInput): Promise<Message> {
    const { organizationId } = requireTenantContext(ctx);
    const id = parseInput(mongoId, conversationId, 'conversationId');
    const data = parseInput(appendSchema, input);
    return this.#db.run(async () => {
      const { Conversation, Message } = this.#db.models;
      const now = new Date();
      const conversation = await Conversation.findOneAndUpdate(
        { organizationId, _id: id, status: 'active' },
        // $max: concurrent appends may finish out of order; lastMessageAt never goes back.
        { $inc: { lastSeq: 1, messageCount: 1, tokenCount: data.tokenCount }, $max: { lastMessageAt: now } },
        { returnDocument: 'after', projection: { lastSeq: 1 } },
      )
        .lean<Pick<ConversationDocument, '_id' | 'lastSeq'>>()
        .exec();
      if (!conversation) {
        const exists = await Conversation.exists({ organizationId, _id: id }).exec();
        if (exists) throw new ConflictError(`Conversation ${id} is archived`, { store: 'mongo' });
        throw new NotFoundError('conversation', id);
      }
      const doc = await Message.create({
        _id: randomUUID(),
        organizationId,
        conversationId: id,
        seq: conversation.lastSeq,
        role: data.role,
        content: data.content,
        tokenCount: data.tokenCount,
        metadata: data.metadata ?? null,
        createdAt: now,
      });
      return toMessage(doc.toObject());
    });
  }

  /**
   * Newest page first: the latest `limit` messages (1–200, default 50), or
   * those older than the page `cursor` came from; each page's items are
   * oldest first (display order), and `nextCursor` leads to older messages.
   *
   * @throws ValidationError; an unknown or foreign conversation yields an empty page
   */
  @declareAccess({ requires: 'conversations:read' })
  async pageBackwards(ctx: TenantContext, conversationId: string, options: KeysetPageInput = {}): Promise<KeysetPage<Message>> {
    const { organizationId } = requireTenantContext(ctx);
    const id = parseInput(mongoId, conversationId, 'conversationId');
    const o = parseInput(pageSchema, options);
    const filter: Record<string, unknown> = { organizationId, conversationId: id };
    if (o.cursor !== undefined) filter.seq = { $lt: decodeMongoCursor(o.cursor, position)[0] };
    const rows = await this.#db.run(() =>
      this.#db.models.Message.find(filter)
        .sort({ seq: -1 })
        .limit(o.limit + 1)
        .lean<MessageDocument[]>()
        .exec(),
    );
    const page = toKeysetPage(rows, o.limit, toMessage, (oldest) => encodeMongoCursor([oldest.seq]));
    return { items: page.items.toReversed(), nextCursor: page.nextCursor };
  }

  /** Number of messages stored for a conversation (a check against the conversation's counter). */
  @declareAccess({ requires: 'conversations:read' })
  async countByConversation(ctx: TenantContext, conversationId: string): Promise<number> {
    const { organizationId } = requireTenantContext(ctx);
    const id = parseInput(mongoId, conversationId, 'conversationId');
    return this.#db.run(() => this.#db.models.Message.countDocuments({ organizationId, conversationId: id }).exec());
  }

  // ---- admin ----

  /**
   * Every message in `userId`'s conversations (all organizations), streamed
   * conversation by conversation, oldest first. A cross-tenant scan of
   * conversations, then indexed reads per conversation.
   *
   * @throws TenantAccessError without a real AdminScope
   */
  @declareAccess({ adminScope: true })
  listAllForUser(scope: AdminScope, userId: string): AsyncIterable<Message> {
    assertAdminScope(scope);
    const id = parseInput(mongoId, userId, 'userId');
    const models = this.#db.models;
    return this.#db.iterate(async function* () {
      const conversations = allowCrossTenant(
        models.Conversation.find({ userId: id }, { _id: 1, organizationId: 1 })
          .sort({ organizationId: 1, _id: 1 })
          .lean<Pick<ConversationDocument, '_id' | 'organizationId'>[]>(),
        scope,
      ).cursor();
      for await (const c of conversations) {
        const { _id, organizationId } = c;
        const messages = models.Message.find({ organizationId, conversationId: _id }).sort({ seq: 1 }).lean<MessageDocument[]>().cursor();
        for await (const m of messages) yield toMessage(m);
      }
    });
  }

  /** @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async deleteAllForOrganization(scope: AdminScope, organizationId: string): Promise<number> {
    assertAdminScope(scope);
    const org = parseInput(mongoId, organizationId, 'organizationId');
    return this.#db.run(async () => (await this.#db.models.Message.deleteMany({ organizationId: org }).exec()).deletedCount);
  }
}
