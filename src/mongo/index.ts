/**
 * `platform-data/mongo`: the MongoDB connection, provisioning, the tenant
 * plugin and the repositories with every type they take and return.
 */
export { MongoConnection } from './mongo-connection.js';
export { MongoProvisioner } from './mongo-provisioner.js';
export type { MongoCollectionStatus } from './mongo-provisioner.js';
export { mongoCollectionSpecs } from './mongo-collection-specs.js';
export type { MongoCollectionSpec, MongoIndexSpec } from './mongo-collection-specs.js';
export type { MongoCollectionName } from './mongo-models.js';
export { mapMongoError } from './map-mongo-error.js';
export { tenantPlugin, allowCrossTenant } from './tenant-plugin.js';
export { ConversationRepository } from './repositories/conversation-repository.js';
export type {
  Conversation,
  ConversationStatus,
  ListConversationsOptions,
  CreateConversationInput,
  AnnotateConversationInput,
} from './repositories/conversation-repository.js';
export { MessageRepository } from './repositories/message-repository.js';
export type { Message, MessageRole, AppendMessageInput, MessageMetadata } from './repositories/message-repository.js';
export { KnowledgeDocumentRepository, knowledgeDocumentId } from './repositories/knowledge-document-repository.js';
export type {
  KnowledgeDocument,
  ListKnowledgeDocumentsOptions,
  KnowledgeDocumentStatus,
  UpsertKnowledgeDocumentInput,
  UpsertKnowledgeDocumentResult,
  SetKnowledgeStatusOptions,
} from './repositories/knowledge-document-repository.js';
export { KnowledgeChunkRepository, knowledgeChunkId } from './repositories/knowledge-chunk-repository.js';
export type { KnowledgeChunk, KnowledgeChunkInput } from './repositories/knowledge-chunk-repository.js';
export { AnalyticsRepository } from './repositories/analytics-repository.js';
export type { AnalyticsEvent, RecordAnalyticsEventInput, DailyCount } from './repositories/analytics-repository.js';
export { OrganizationDataCounter } from './repositories/organization-data-counter.js';
