import { Schema, type Connection, type Model } from 'mongoose';
import { tenantPlugin } from './tenant-plugin.js';

/** Collection names; one place so models, validators and provisioning agree. */
export const MONGO_COLLECTIONS = {
  conversations: 'conversations',
  messages: 'messages',
  knowledgeDocuments: 'knowledge_documents',
  knowledgeChunks: 'knowledge_chunks',
  analyticsEvents: 'analytics_events',
} as const;

export type MongoCollectionName = (typeof MONGO_COLLECTIONS)[keyof typeof MONGO_COLLECTIONS];

export const CONVERSATION_STATUSES = ['active', 'archived'] as const;
export const MESSAGE_ROLES = ['user', 'assistant', 'system', 'tool'] as const;
/** Bounds shared by the repository's input schema and the collection validator. */
export const CONVERSATION_SUMMARY_MAX_LENGTH = 10_000;
export const MODEL_NAME_MAX_LENGTH = 200;
export const KNOWLEDGE_DOCUMENT_STATUSES = ['pending', 'indexing', 'indexed', 'failed'] as const;

/*
 * The stored shapes: `<Entity>Document` is what a collection holds (`_id`,
 * internal counters), mapped by each repository's `to<Entity>()` into the
 * public shape it returns (`Conversation`, `Message` …). "Record" is kept for
 * the PostgreSQL repositories' public row shapes (`UserRecord`), never for a
 * stored MongoDB document.
 */
export interface ConversationDocument {
  _id: string;
  organizationId: string;
  userId: string;
  personaId?: string | null;
  title: string;
  status: (typeof CONVERSATION_STATUSES)[number];
  messageCount: number;
  tokenCount: number;
  /** Last message sequence number handed out; separate from messageCount so a deleted message never frees a seq. */
  lastSeq: number;
  lastMessageAt: Date;
  /** Absent on conversations stored before 0.x: read as null / {}. */
  summary?: string | null;
  metadata?: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

/** What produced a message (an assistant reply, mostly); every field optional. */
export interface MessageMetadataDocument {
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  latencyMs?: number;
}

export interface MessageDocument {
  _id: string;
  organizationId: string;
  conversationId: string;
  seq: number;
  role: (typeof MESSAGE_ROLES)[number];
  content: string;
  tokenCount: number;
  metadata?: MessageMetadataDocument | null;
  createdAt: Date;
}

export interface KnowledgeDocumentDocument {
  _id: string;
  organizationId: string;
  source: string;
  title: string;
  contentHash: string;
  version: number;
  status: (typeof KNOWLEDGE_DOCUMENT_STATUSES)[number];
  error?: string | null;
  chunkCount: number;
  /** Inline text (MongoDB's 16 MB document limit applies); `contentRef` points elsewhere (object storage) instead. */
  content?: string | null;
  contentRef?: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface KnowledgeChunkDocument {
  /** `${documentId}:${version}:${ordinal}` — deterministic, so a retried save overwrites instead of duplicating. */
  _id: string;
  organizationId: string;
  documentId: string;
  version: number;
  ordinal: number;
  text: string;
  tokenCount: number;
  createdAt: Date;
}

export interface AnalyticsEventDocument {
  _id: string;
  organizationId: string;
  userId?: string | null;
  type: string;
  properties: Record<string, unknown>;
  createdAt: Date;
}

export interface MongoModels {
  readonly Conversation: Model<ConversationDocument>;
  readonly Message: Model<MessageDocument>;
  readonly KnowledgeDocument: Model<KnowledgeDocumentDocument>;
  readonly KnowledgeChunk: Model<KnowledgeChunkDocument>;
  readonly AnalyticsEvent: Model<AnalyticsEventDocument>;
}

// Ids are strings chosen by the repositories (UUIDs or deterministic keys), so
// retries are idempotent and shard keys `{organizationId, _id}` stay simple.
// Indexes are declared in mongo-collection-specs.ts and created by the
// provisioner, never here (autoIndex is off; the TTL depends on config).
const base = { versionKey: false, id: false, strict: 'throw' } as const;

function conversationSchema(): Schema<ConversationDocument> {
  return new Schema<ConversationDocument>(
    {
      _id: { type: String, required: true },
      organizationId: { type: String, required: true },
      userId: { type: String, required: true },
      personaId: { type: String, default: null },
      title: { type: String, required: true, maxlength: 500 },
      status: { type: String, enum: CONVERSATION_STATUSES, required: true, default: 'active' },
      messageCount: { type: Number, required: true, default: 0, min: 0 },
      tokenCount: { type: Number, required: true, default: 0, min: 0 },
      lastSeq: { type: Number, required: true, default: 0, min: 0 },
      lastMessageAt: { type: Date, required: true },
      summary: { type: String, default: null, maxlength: CONVERSATION_SUMMARY_MAX_LENGTH },
      metadata: { type: Schema.Types.Mixed, default: undefined },
    },
    { ...base, collection: MONGO_COLLECTIONS.conversations, timestamps: true },
  );
}

function messageSchema(): Schema<MessageDocument> {
  return new Schema<MessageDocument>(
    {
      _id: { type: String, required: true },
      organizationId: { type: String, required: true },
      conversationId: { type: String, required: true },
      seq: { type: Number, required: true, min: 1 },
      role: { type: String, enum: MESSAGE_ROLES, required: true },
      content: { type: String, required: true },
      tokenCount: { type: Number, required: true, min: 0 },
      metadata: { type: Schema.Types.Mixed, default: undefined },
      createdAt: { type: Date, required: true },
    },
    { ...base, collection: MONGO_COLLECTIONS.messages },
  );
}

function knowledgeDocumentSchema(): Schema<KnowledgeDocumentDocument> {
  return new Schema<KnowledgeDocumentDocument>(
    {
      _id: { type: String, required: true },
      organizationId: { type: String, required: true },
      source: { type: String, required: true },
      title: { type: String, required: true },
      contentHash: { type: String, required: true },
      version: { type: Number, required: true, min: 1 },
      status: { type: String, enum: KNOWLEDGE_DOCUMENT_STATUSES, required: true },
      error: { type: String, default: null },
      chunkCount: { type: Number, required: true, default: 0, min: 0 },
      content: { type: String, default: null },
      contentRef: { type: String, default: null },
    },
    { ...base, collection: MONGO_COLLECTIONS.knowledgeDocuments, timestamps: true },
  );
}

function knowledgeChunkSchema(): Schema<KnowledgeChunkDocument> {
  return new Schema<KnowledgeChunkDocument>(
    {
      _id: { type: String, required: true },
      organizationId: { type: String, required: true },
      documentId: { type: String, required: true },
      version: { type: Number, required: true, min: 1 },
      ordinal: { type: Number, required: true, min: 0 },
      text: { type: String, required: true },
      tokenCount: { type: Number, required: true, min: 0 },
      createdAt: { type: Date, required: true },
    },
    { ...base, collection: MONGO_COLLECTIONS.knowledgeChunks },
  );
}

function analyticsEventSchema(): Schema<AnalyticsEventDocument> {
  return new Schema<AnalyticsEventDocument>(
    {
      _id: { type: String, required: true },
      organizationId: { type: String, required: true },
      userId: { type: String, default: null },
      type: { type: String, required: true },
      properties: { type: Schema.Types.Mixed, required: true, default: {} },
      createdAt: { type: Date, required: true },
    },
    { ...base, collection: MONGO_COLLECTIONS.analyticsEvents, minimize: false },
  );
}

const compiled = new WeakMap<Connection, MongoModels>();

function model<T>(connection: Connection, name: string, schema: () => Schema<T>): Model<T> {
  const existing = connection.models[name] as Model<T> | undefined;
  if (existing) return existing;
  const s = schema();
  s.plugin(tenantPlugin);
  return connection.model<T>(name, s);
}

/**
 * The models compiled on `connection` (once per connection, so every platform
 * and every test file has its own). Every model carries the tenant plugin.
 */
export function mongoModels(connection: Connection): MongoModels {
  let models = compiled.get(connection);
  if (!models) {
    models = Object.freeze({
      Conversation: model(connection, 'Conversation', conversationSchema),
      Message: model(connection, 'Message', messageSchema),
      KnowledgeDocument: model(connection, 'KnowledgeDocument', knowledgeDocumentSchema),
      KnowledgeChunk: model(connection, 'KnowledgeChunk', knowledgeChunkSchema),
      AnalyticsEvent: model(connection, 'AnalyticsEvent', analyticsEventSchema),
    });
    compiled.set(connection, models);
  }
  return models;
}
