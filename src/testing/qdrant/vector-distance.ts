/** The distance functions Qdrant offers for dense vectors. */
export type Distance = 'Cosine' | 'Euclid' | 'Dot' | 'Manhattan';

export const DISTANCES: readonly Distance[] = ['Cosine', 'Euclid', 'Dot', 'Manhattan'];

const F32_EPSILON = 1.1920929e-7;

export function isDistance(value: unknown): value is Distance {
  return typeof value === 'string' && (DISTANCES as readonly string[]).includes(value);
}

/** Cosine and Dot rank higher scores first; Euclid and Manhattan report distances, lower first. */
export function isBiggerBetter(distance: Distance): boolean {
  return distance === 'Cosine' || distance === 'Dot';
}

/**
 * Converts input numbers to float32 and, for Cosine, normalizes them — Qdrant
 * stores Cosine vectors normalized and scores them with a dot product.
 */
export function prepareVector(values: readonly number[], distance: Distance): Float32Array {
  const vector = Float32Array.from(values);
  if (distance !== 'Cosine') return vector;
  let sum = 0;
  for (const x of vector) sum += x * x;
  const length = Math.fround(Math.sqrt(sum));
  if (length < F32_EPSILON) return vector;
  for (let i = 0; i < vector.length; i += 1) vector[i] = (vector[i] ?? 0) / length;
  return vector;
}

/** The score Qdrant reports for `stored` against an already prepared `query`. */
export function score(distance: Distance, query: Float32Array, stored: Float32Array): number {
  let total = 0;
  switch (distance) {
    case 'Cosine':
    case 'Dot':
      for (let i = 0; i < query.length; i += 1) total += (query[i] ?? 0) * (stored[i] ?? 0);
      return Math.fround(total);
    case 'Euclid':
      for (let i = 0; i < query.length; i += 1) {
        const d = (query[i] ?? 0) - (stored[i] ?? 0);
        total += d * d;
      }
      return Math.fround(Math.sqrt(total));
    case 'Manhattan':
      for (let i = 0; i < query.length; i += 1) total += Math.abs((query[i] ?? 0) - (stored[i] ?? 0));
      return Math.fround(total);
  }
}
