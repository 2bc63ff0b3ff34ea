export { startLocalStack } from './start-local-stack.js';
export type { LocalStack, LocalStackOptions, StackBackend, StackStore } from './start-local-stack.js';
export { MongoStandIn } from './mongo-stand-in.js';
export { QdrantStandIn } from './qdrant-stand-in.js';
export { freePort } from './free-port.js';
export { startTestStack, migrateTemplate, TEMPLATE_DATABASE_PREFIX, TEST_DATABASE_PREFIX } from './start-test-stack.js';
export type { TestStack, TestStackInfo, TestStackOptions, AppMigrations } from './start-test-stack.js';
export { createTestEnvironment, testKeyRing } from './create-test-environment.js';
export type { TestEnvironment, TestEnvironmentOptions } from './create-test-environment.js';
