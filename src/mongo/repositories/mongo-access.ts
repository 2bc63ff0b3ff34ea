import type { MongoConnection } from '../mongo-connection.js';
import { iterateWithMongoErrors, withMongoErrors } from '../map-mongo-error.js';
import { mongoModels, type MongoModels } from '../mongo-models.js';

/**
 * What every MongoDB repository needs of its connection: the models and the
 * folder's error wrapper with the connection's redacted URL. One object, so
 * the repositories do not each repeat the same two members.
 */
export class MongoAccess {
  readonly #mongo: MongoConnection;

  constructor(mongo: MongoConnection) {
    this.#mongo = mongo;
  }

  get models(): MongoModels {
    return mongoModels(this.#mongo.connection);
  }

  /** {@link withMongoErrors} for one operation. */
  run<T>(operation: () => Promise<T>): Promise<T> {
    return withMongoErrors(operation, this.#mongo.redactedUrl);
  }

  /** {@link iterateWithMongoErrors} for one cursor. */
  iterate<T>(source: () => AsyncIterable<T>): AsyncGenerator<T> {
    return iterateWithMongoErrors(source, this.#mongo.redactedUrl);
  }
}
