import { OrganizationDataCounter } from './repositories/organization-data-counter.js';
import { PROVISIONER } from '../tokens.js';
import type { DependencyContainer } from 'tsyringe';
import { AnalyticsRepository } from './repositories/analytics-repository.js';
import { ConversationRepository } from './repositories/conversation-repository.js';
import { KnowledgeChunkRepository } from './repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from './repositories/knowledge-document-repository.js';
import { MessageRepository } from './repositories/message-repository.js';
import { MongoConnection } from './mongo-connection.js';
import { MongoProvisioner } from './mongo-provisioner.js';

/** Registers the MongoDB connection and repositories in `container`. */
export function registerMongo(container: DependencyContainer): void {
  container.registerSingleton(MongoConnection);
  container.registerSingleton(MongoProvisioner);
  container.register(PROVISIONER, { useToken: MongoProvisioner });
  container.registerSingleton(ConversationRepository);
  container.registerSingleton(MessageRepository);
  container.registerSingleton(KnowledgeDocumentRepository);
  container.registerSingleton(KnowledgeChunkRepository);
  container.registerSingleton(AnalyticsRepository);
  container.registerSingleton(OrganizationDataCounter);
}
