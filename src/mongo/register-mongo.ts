import type { DependencyContainer } from 'tsyringe';
import { MongoConnection } from './mongo-connection.js';

/** Registers the MongoDB connection and repositories in `container`. */
export function registerMongo(container: DependencyContainer): void {
  container.registerSingleton(MongoConnection);
}
