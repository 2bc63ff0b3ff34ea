import type { Embedder } from '../../embedder.js';

export interface HashingEmbedderOptions {
  /** Vector length, 8–65536 (default 256). */
  readonly dimension?: number;
  /** Weight of each character trigram relative to a whole word (default 0.5). */
  readonly trigramWeight?: number;
}

const WORD = /[\p{L}\p{N}]+/gu;

/** FNV-1a, 32 bit: fast, stable across runs and platforms (no seed), good enough spread for feature hashing. */
function fnv1a(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * A deterministic local embedder: the "hashing trick" over lower-cased words
 * and their character trigrams, each feature hashed to a bucket with a hashed
 * sign (so collisions cancel out on average instead of piling up), then
 * L2-normalised. A query sharing words — or word fragments, through the
 * trigrams — with a passage scores high against it under Cosine distance.
 * It knows nothing of synonyms or meaning: it is for tests and demos, not
 * production retrieval.
 *
 * @example
 * const embedder = new HashingEmbedder({ dimension: 256 });
 * const [v] = await embedder.embed(['refund policy for annual plans']);
 */
export class HashingEmbedder implements Embedder {
  readonly dimension: number;
  readonly #trigramWeight: number;

  /** @throws RangeError for a dimension outside 8–65536 */
  constructor(options: HashingEmbedderOptions = {}) {
    const dimension = options.dimension ?? 256;
    if (!Number.isInteger(dimension) || dimension < 8 || dimension > 65_536) throw new RangeError('dimension must be an integer from 8 to 65536');
    this.dimension = dimension;
    this.#trigramWeight = options.trigramWeight ?? 0.5;
  }

  /** The vector of one text, synchronously. Empty text (no letters or digits) gives the unit vector on axis 0. */
  embedOne(text: string): Float32Array {
    const vector = new Float32Array(this.dimension);
    const add = (feature: string, weight: number): void => {
      const h = fnv1a(feature, 0);
      const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1;
      vector[h % this.dimension]! += sign * weight;
    };
    for (const match of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
      const word = match[0];
      add(`w:${word}`, 1);
      const padded = ` ${word} `;
      for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`, this.#trigramWeight);
    }
    let norm = 0;
    for (const x of vector) norm += x * x;
    if (norm === 0) {
      // A zero vector has no direction: Cosine would divide by zero.
      vector[0] = 1;
      return vector;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let i = 0; i < vector.length; i++) vector[i]! *= scale;
    return vector;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }
}
