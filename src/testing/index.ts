export { startLocalStack } from './start-local-stack.js';
export type { LocalStack, LocalStackOptions, StackBackend, StackStore } from './start-local-stack.js';
export { MongoStandIn } from './mongo-stand-in.js';
export { QdrantStandIn } from './qdrant-stand-in.js';
export { freePort } from './free-port.js';
export type { MongoStandInOptions } from './mongo-stand-in.js';
export type { QdrantStandInOptions } from './qdrant-stand-in.js';
