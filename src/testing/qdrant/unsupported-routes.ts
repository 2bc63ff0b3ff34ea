import { QdrantError } from './qdrant-error.js';
import type { Route } from './route.js';

/**
 * Endpoints of Qdrant 1.19's REST API (its OpenAPI document) that the
 * stand-in does not implement. They answer a JSON error naming the feature
 * instead of the empty 404 of an unknown path, which a client would read as
 * "collection not found".
 */
const UNSUPPORTED: ReadonlyArray<readonly [Route['method'], string, string]> = [
  ['POST', '/collections/{collection}/points/query/groups', 'query groups (`group_by`)'],
  ['POST', '/collections/{collection}/points/search/groups', 'search groups (`group_by`)'],
  ['POST', '/collections/{collection}/points/recommend/groups', 'recommend groups (`group_by`)'],
  ['POST', '/collections/{collection}/points/search', 'the legacy search API (use query)'],
  ['POST', '/collections/{collection}/points/search/batch', 'the legacy search API (use query)'],
  ['POST', '/collections/{collection}/points/recommend', 'the legacy recommend API (use query)'],
  ['POST', '/collections/{collection}/points/recommend/batch', 'the legacy recommend API (use query)'],
  ['POST', '/collections/{collection}/points/discover', 'the legacy discover API (use query)'],
  ['POST', '/collections/{collection}/points/discover/batch', 'the legacy discover API (use query)'],
  ['POST', '/collections/{collection}/points/search/matrix/pairs', 'the distance matrix API'],
  ['POST', '/collections/{collection}/points/search/matrix/offsets', 'the distance matrix API'],
  ['POST', '/collections/{collection}/facet', 'facet counts'],
  ['GET', '/collections/{collection}/snapshots', 'snapshots'],
  ['POST', '/collections/{collection}/snapshots', 'snapshots'],
  ['PUT', '/collections/{collection}/snapshots/recover', 'snapshots'],
  ['POST', '/collections/{collection}/snapshots/upload', 'snapshots'],
  ['GET', '/collections/{collection}/snapshots/{snapshot}', 'snapshots'],
  ['DELETE', '/collections/{collection}/snapshots/{snapshot}', 'snapshots'],
  ['GET', '/snapshots', 'snapshots'],
  ['POST', '/snapshots', 'snapshots'],
  ['GET', '/snapshots/{snapshot}', 'snapshots'],
  ['DELETE', '/snapshots/{snapshot}', 'snapshots'],
  ['GET', '/collections/{collection}/shards/{shard}/snapshots', 'shard snapshots'],
  ['POST', '/collections/{collection}/shards/{shard}/snapshots', 'shard snapshots'],
  ['GET', '/collections/{collection}/shards/{shard}/snapshot', 'shard snapshots'],
  ['GET', '/collections/{collection}/shards/{shard}/snapshots/{snapshot}', 'shard snapshots'],
  ['DELETE', '/collections/{collection}/shards/{shard}/snapshots/{snapshot}', 'shard snapshots'],
  ['POST', '/collections/{collection}/shards/{shard}/snapshots/upload', 'shard snapshots'],
  ['PUT', '/collections/{collection}/shards/{shard}/snapshots/recover', 'shard snapshots'],
  ['PUT', '/collections/{collection}/vectors/{vector}', 'adding named vectors to an existing collection'],
  ['DELETE', '/collections/{collection}/vectors/{vector}', 'removing named vectors from a collection'],
  ['GET', '/collections/{collection}/optimizations', 'optimization progress'],
  ['GET', '/collections/{collection}/cluster', 'distributed mode'],
  ['GET', '/collections/{collection}/shards', 'custom shard keys'],
  ['POST', '/collections/{collection}/cluster', 'distributed mode'],
  ['PUT', '/collections/{collection}/shards', 'custom shard keys'],
  ['POST', '/collections/{collection}/shards/delete', 'custom shard keys'],
  ['GET', '/cluster', 'distributed mode'],
  ['POST', '/cluster/recover', 'distributed mode'],
  ['DELETE', '/cluster/peer/{peer}', 'distributed mode'],
  ['GET', '/locks', 'write locks'],
  ['POST', '/locks', 'write locks'],
  ['GET', '/telemetry', 'telemetry'],
  ['GET', '/cluster/telemetry', 'telemetry'],
  ['GET', '/quotas', 'quotas'],
  ['PUT', '/quotas', 'quotas'],
  ['GET', '/metrics', 'metrics'],
  ['GET', '/issues', 'issues'],
  ['DELETE', '/issues', 'issues'],
];

export const unsupportedRoutes: readonly Route[] = UNSUPPORTED.map(([method, path, feature]) => ({
  method,
  path,
  handle: () => {
    throw QdrantError.unsupported(feature);
  },
}));
