import type { Config } from '../config.js';
import {
  CONVERSATION_STATUSES,
  CONVERSATION_SUMMARY_MAX_LENGTH,
  KNOWLEDGE_DOCUMENT_STATUSES,
  MESSAGE_ROLES,
  MODEL_NAME_MAX_LENGTH,
  MONGO_COLLECTIONS,
  type MongoCollectionName,
} from './mongo-models.js';

/** One index as `createIndexes` takes it. */
export interface MongoIndexSpec {
  readonly name: string;
  readonly key: Readonly<Record<string, 1 | -1>>;
  readonly unique?: boolean;
  readonly expireAfterSeconds?: number;
}

/** A collection as provisioning creates it: `$jsonSchema` validator and indexes. */
export interface MongoCollectionSpec {
  readonly name: MongoCollectionName;
  readonly validator: { readonly $jsonSchema: Record<string, unknown> };
  readonly indexes: readonly MongoIndexSpec[];
}

// JS numbers reach the server as int32 when they fit, else as double.
const NUMBER = { bsonType: ['int', 'long', 'double'], minimum: 0 };
const STRING = { bsonType: 'string', minLength: 1 };
const OPTIONAL_STRING = { bsonType: ['string', 'null'] };
const DATE = { bsonType: 'date' };

function objectSchema(required: readonly string[], properties: Record<string, unknown>): { $jsonSchema: Record<string, unknown> } {
  // additionalProperties stays open: a newer release may add a field before every
  // process runs it, and the models reject unknown fields on their side (strict: 'throw').
  return { $jsonSchema: { bsonType: 'object', required: [...required], properties: { _id: STRING, organizationId: STRING, ...properties } } };
}

/**
 * The MongoDB collections of this package. Every index starts with
 * `organizationId` (the future shard key prefix, and what every tenant query
 * filters on); the analytics TTL comes from `retention.analyticsDays`.
 */
export function mongoCollectionSpecs(config: Pick<Config, 'retention'>): MongoCollectionSpec[] {
  return [
    {
      name: MONGO_COLLECTIONS.conversations,
      validator: objectSchema(
        ['_id', 'organizationId', 'userId', 'title', 'status', 'messageCount', 'tokenCount', 'lastSeq', 'lastMessageAt', 'createdAt', 'updatedAt'],
        {
          userId: STRING,
          personaId: OPTIONAL_STRING,
          title: { bsonType: 'string', maxLength: 500 },
          status: { enum: [...CONVERSATION_STATUSES] },
          messageCount: NUMBER,
          tokenCount: NUMBER,
          lastSeq: NUMBER,
          lastMessageAt: DATE,
          summary: { bsonType: ['string', 'null'], maxLength: CONVERSATION_SUMMARY_MAX_LENGTH },
          metadata: { bsonType: 'object' },
          createdAt: DATE,
          updatedAt: DATE,
        },
      ),
      indexes: [
        // listByUser keyset pagination: (lastMessageAt desc, _id desc) within one user.
        { name: 'org_user_lastMessageAt', key: { organizationId: 1, userId: 1, lastMessageAt: -1, _id: -1 } },
      ],
    },
    {
      name: MONGO_COLLECTIONS.messages,
      validator: objectSchema(['_id', 'organizationId', 'conversationId', 'seq', 'role', 'content', 'tokenCount', 'createdAt'], {
        conversationId: STRING,
        seq: { bsonType: ['int', 'long', 'double'], minimum: 1 },
        role: { enum: [...MESSAGE_ROLES] },
        content: { bsonType: 'string' },
        tokenCount: NUMBER,
        metadata: {
          bsonType: ['object', 'null'],
          additionalProperties: false,
          properties: {
            model: { bsonType: 'string', minLength: 1, maxLength: MODEL_NAME_MAX_LENGTH },
            promptTokens: NUMBER,
            completionTokens: NUMBER,
            latencyMs: NUMBER,
          },
        },
        createdAt: DATE,
      }),
      indexes: [
        // Unique: two appends can never share a seq, even if the counter were reset by hand.
        { name: 'org_conversation_seq', key: { organizationId: 1, conversationId: 1, seq: -1 }, unique: true },
      ],
    },
    {
      name: MONGO_COLLECTIONS.knowledgeDocuments,
      validator: objectSchema(['_id', 'organizationId', 'source', 'title', 'contentHash', 'version', 'status', 'chunkCount', 'createdAt', 'updatedAt'], {
        source: STRING,
        title: { bsonType: 'string' },
        contentHash: STRING,
        version: { bsonType: ['int', 'long', 'double'], minimum: 1 },
        status: { enum: [...KNOWLEDGE_DOCUMENT_STATUSES] },
        error: OPTIONAL_STRING,
        chunkCount: NUMBER,
        content: OPTIONAL_STRING,
        contentRef: OPTIONAL_STRING,
        createdAt: DATE,
        updatedAt: DATE,
      }),
      indexes: [
        { name: 'org_id', key: { organizationId: 1, _id: 1 } },
        // findStuck: documents left pending/indexing since before a cutoff.
        { name: 'org_status_updatedAt', key: { organizationId: 1, status: 1, updatedAt: 1 } },
      ],
    },
    {
      name: MONGO_COLLECTIONS.knowledgeChunks,
      validator: objectSchema(['_id', 'organizationId', 'documentId', 'version', 'ordinal', 'text', 'tokenCount', 'createdAt'], {
        documentId: STRING,
        version: { bsonType: ['int', 'long', 'double'], minimum: 1 },
        ordinal: NUMBER,
        text: { bsonType: 'string' },
        tokenCount: NUMBER,
        createdAt: DATE,
      }),
      indexes: [{ name: 'org_document_version_ordinal', key: { organizationId: 1, documentId: 1, version: 1, ordinal: 1 } }],
    },
    {
      name: MONGO_COLLECTIONS.analyticsEvents,
      validator: objectSchema(['_id', 'organizationId', 'type', 'properties', 'createdAt'], {
        userId: OPTIONAL_STRING,
        type: STRING,
        properties: { bsonType: 'object' },
        createdAt: DATE,
      }),
      indexes: [
        { name: 'org_type_createdAt', key: { organizationId: 1, type: 1, createdAt: 1 } },
        { name: 'org_user_createdAt', key: { organizationId: 1, userId: 1, createdAt: 1 } },
        // TTL indexes must be single-field; this one is the retention rule, not a query path.
        { name: 'createdAt_ttl', key: { createdAt: 1 }, expireAfterSeconds: config.retention.analyticsDays * 86_400 },
      ],
    },
  ];
}
