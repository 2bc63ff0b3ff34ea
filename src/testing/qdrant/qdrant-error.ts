/**
 * An error the stand-in answers with, carrying the HTTP status and the exact
 * text real Qdrant puts in `status.error`.
 */
export class QdrantError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'QdrantError';
    this.status = status;
  }

  /** 404, `StorageError::NotFound`. */
  static notFound(description: string): QdrantError {
    return new QdrantError(404, `Not found: ${description}`);
  }

  static collectionNotFound(name: string): QdrantError {
    return QdrantError.notFound(`Collection \`${name}\` doesn't exist!`);
  }

  /** 400, `StorageError::BadInput` (also what `CollectionError::BadInput` becomes). */
  static badInput(description: string): QdrantError {
    return new QdrantError(400, `Wrong input: ${description}`);
  }

  /** 400, `StorageError::BadRequest`. */
  static badRequest(description: string): QdrantError {
    return new QdrantError(400, `Bad request: ${description}`);
  }

  /** 409, `StorageError::AlreadyExists`, which Qdrant words as bad input. */
  static alreadyExists(description: string): QdrantError {
    return new QdrantError(409, `Wrong input: ${description}`);
  }

  /** 400, what actix answers when serde cannot deserialize the body. */
  static format(description: string): QdrantError {
    return new QdrantError(400, `Format error in JSON body: ${description}`);
  }

  /** 422, what actix-web-validator answers when a deserialized body fails validation. */
  static validation(issues: readonly string[]): QdrantError {
    return new QdrantError(422, `Validation error in JSON body: [${issues.join(', ')}]`);
  }

  /** 400, used for request shapes the stand-in deliberately does not implement. */
  static unsupported(feature: string): QdrantError {
    return QdrantError.badInput(`the Qdrant stand-in does not support ${feature}`);
  }
}
