/**
 * Turns texts into vectors. Supplied by the application (a hosted model, a
 * local ONNX model …); {@link HashingEmbedder} is the deterministic local one
 * for tests and the demo.
 *
 * The Qdrant collection is created with `dimension`, so changing embedders
 * means a new collection (prefix) and a reindex: provisioning refuses a
 * dimension that differs from the existing collection.
 */
export interface Embedder {
  /** Length of every vector `embed` returns. */
  readonly dimension: number;
  /**
   * One vector per text, in order. Called with batches; an implementation
   * that calls a remote API should bound its own request size and retry
   * transient failures.
   */
  embed(texts: readonly string[]): Promise<Float32Array[] | number[][]>;
}
