import type { Collection, StoredPoint } from './collection-store.js';
import { matchesFilter, type Filter } from './filter-matcher.js';
import { comparePointIds, pointIdKey } from './point-id.js';
import { isBiggerBetter, score } from './vector-distance.js';

export interface NearestRequest {
  readonly vectorName: string;
  /** Already converted to float32 (and normalized, for Cosine). */
  readonly vector: Float32Array;
  readonly filter: Filter | undefined;
  readonly limit: number;
  readonly offset: number;
  readonly scoreThreshold: number | undefined;
  /** Point keys to leave out, e.g. the point a query-by-id started from. */
  readonly excludeKeys: ReadonlySet<string>;
}

export interface ScoredStoredPoint {
  readonly point: StoredPoint;
  readonly score: number;
}

/**
 * Exact brute-force nearest neighbours: every matching point is scored, so
 * the result is the true top `limit` (after `offset`), best first and ties by id.
 */
export function findNearest(collection: Collection, request: NearestRequest): ScoredStoredPoint[] {
  const { distance } = collection.vectorParams(request.vectorName);
  const biggerBetter = isBiggerBetter(distance);
  // Qdrant takes the threshold as an f32.
  const threshold = request.scoreThreshold === undefined ? undefined : Math.fround(request.scoreThreshold);
  const context = collection.filterContext();
  const scored: ScoredStoredPoint[] = [];
  for (const point of collection.sortedPoints()) {
    if (request.excludeKeys.has(pointIdKey(point.id))) continue;
    const stored = point.vectors.get(request.vectorName);
    if (stored === undefined) continue;
    if (!matchesFilter(request.filter, { id: point.id, payload: point.payload, vectorNames: new Set(point.vectors.keys()) }, context)) continue;
    const value = score(distance, request.vector, stored);
    if (threshold !== undefined && (biggerBetter ? value < threshold : value > threshold)) continue;
    scored.push({ point, score: value });
  }
  scored.sort((a, b) => (biggerBetter ? b.score - a.score : a.score - b.score) || comparePointIds(a.point.id, b.point.id));
  return scored.slice(request.offset, request.offset + request.limit);
}
