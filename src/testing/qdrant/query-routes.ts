import type { Collection, StoredPoint } from './collection-store.js';
import { matchesFilter, parseFilter, type Filter } from './filter-matcher.js';
import { float32ToJsonNumber } from './float32-format.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json-codec.js';
import { parseJsonPath, valuesAtPath } from './json-path.js';
import { findNearest } from './nearest-search.js';
import { parsePayloadSelector, selectPayload } from './payload-selector.js';
import { comparePointIds, parsePointId, pointIdKey, pointIdToJson, type PointId } from './point-id.js';
import { parseVectorSelector, pointRecord, vectorOutput } from './point-record.js';
import { QdrantError } from './qdrant-error.js';
import { optionalLimit, optionalNumber, optionalString, optionalUsize, rejectPresent, requireObject } from './request-reader.js';
import type { Route } from './route.js';
import { prepareVector } from './vector-distance.js';

const QUERY_KINDS = ['recommend', 'discover', 'context', 'order_by', 'fusion', 'rrf', 'formula', 'sample'];

function matching(collection: Collection, filter: Filter | undefined): StoredPoint[] {
  const context = collection.filterContext();
  return collection.sortedPoints().filter((p) => matchesFilter(filter, { id: p.id, payload: p.payload, vectorNames: new Set(p.vectors.keys()) }, context));
}

type QueryInput = { readonly kind: 'none' } | { readonly kind: 'vector'; readonly values: number[] } | { readonly kind: 'id'; readonly id: PointId };

function parseVectorInput(value: JsonValue): QueryInput {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => Array.isArray(v))) throw QdrantError.unsupported('multivector queries');
    if (!value.every((v) => typeof v === 'number' || typeof v === 'bigint')) {
      throw QdrantError.format('Expected some form of vector, id, or a type of query');
    }
    return { kind: 'vector', values: value.map((v) => Number(v)) };
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string') return { kind: 'id', id: parsePointId(value) };
  if (isJsonObject(value) && 'indices' in value) throw QdrantError.unsupported('sparse vector queries');
  if (isJsonObject(value)) throw QdrantError.unsupported('inference objects (document, image) in queries');
  throw QdrantError.format('Expected some form of vector, id, or a type of query');
}

function parseQueryInput(value: JsonValue | undefined): QueryInput {
  if (value === undefined || value === null) return { kind: 'none' };
  if (isJsonObject(value) && 'nearest' in value) {
    rejectPresent(value, ['mmr']);
    return parseVectorInput(value['nearest'] ?? null);
  }
  if (isJsonObject(value)) {
    const kind = QUERY_KINDS.find((k) => k in value);
    if (kind !== undefined) throw QdrantError.unsupported(`\`${kind}\` queries`);
  }
  return parseVectorInput(value);
}

/** Runs one `QueryRequest` (as in `/points/query` and each entry of `/points/query/batch`). */
function runQuery(collection: Collection, raw: JsonValue): { points: unknown[] } {
  const request = requireObject(raw, 'QueryRequest');
  rejectPresent(request, ['prefetch', 'lookup_from']);
  const input = parseQueryInput(request['query']);
  const using = optionalString(request, 'using') ?? '';
  const filter = parseFilter(request['filter']);
  const limit = optionalLimit(request, 'limit', 'internal.limit') ?? 10;
  const offset = optionalUsize(request, 'offset') ?? 0;
  const scoreThreshold = optionalNumber(request, 'score_threshold');
  const payload = parsePayloadSelector(request['with_payload'], false);
  const vector = parseVectorSelector(request['with_vector'], false);

  const scoredPoint = (point: StoredPoint, score: number): Record<string, unknown> => {
    const selectedPayload = selectPayload(point.payload, payload);
    const selectedVector = vectorOutput(collection, point, vector);
    return {
      id: pointIdToJson(point.id),
      version: point.version,
      score: float32ToJsonNumber(score),
      ...(selectedPayload === undefined ? {} : { payload: selectedPayload }),
      ...(selectedVector === undefined ? {} : { vector: selectedVector }),
    };
  };

  if (input.kind === 'none') {
    // Without a query Qdrant scrolls in id order and reports a score of 0.
    return {
      points: matching(collection, filter)
        .slice(offset, offset + limit)
        .map((p) => scoredPoint(p, 0)),
    };
  }
  const params = collection.vectorParams(using);
  let values: number[];
  const excludeKeys = new Set<string>();
  if (input.kind === 'id') {
    const source = collection.requirePoint(input.id);
    const stored = source.vectors.get(using);
    if (stored === undefined) throw QdrantError.badInput(`Vector '${using}' not found in point ${pointIdKey(input.id)}`);
    values = Array.from(stored);
    // A point used as the query is left out of its own results.
    excludeKeys.add(pointIdKey(input.id));
  } else {
    values = input.values;
  }
  if (values.length !== params.size) {
    throw QdrantError.badInput(`Vector dimension error: expected dim: ${params.size}, got ${values.length}`);
  }
  const hits = findNearest(collection, {
    vectorName: using,
    vector: prepareVector(values, params.distance),
    filter,
    limit,
    offset,
    scoreThreshold,
    excludeKeys,
  });
  return { points: hits.map((hit) => scoredPoint(hit.point, hit.score)) };
}

interface OrderBy {
  readonly key: string;
  readonly descending: boolean;
  readonly startFrom: number | undefined;
}

function parseOrderBy(collection: Collection, value: JsonValue | undefined): OrderBy | undefined {
  if (value === undefined || value === null) return undefined;
  const object: JsonObject = typeof value === 'string' ? { key: value } : requireObject(value, 'OrderBy');
  const key = optionalString(object, 'key');
  if (key === undefined) throw QdrantError.format('missing field `key`');
  const index = collection.payloadIndexes.get(key);
  if (index === undefined || !['integer', 'float', 'datetime'].includes(index.dataType)) {
    throw QdrantError.badRequest(
      `No range index for \`order_by\` key: \`${key}\`. Please create one to use \`order_by\`. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions`,
    );
  }
  const direction = optionalString(object, 'direction') ?? 'asc';
  if (direction !== 'asc' && direction !== 'desc') throw QdrantError.format(`unknown variant \`${direction}\`, expected \`asc\` or \`desc\``);
  const start = object['start_from'];
  const startFrom = typeof start === 'string' ? Date.parse(start) : typeof start === 'number' ? start : undefined;
  return { key, descending: direction === 'desc', startFrom };
}

function orderValue(value: JsonValue): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** Query endpoints: query, query/batch, scroll, count. */
export const queryRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/collections/{collection}/points/query',
    handle: ({ params, store, body }) => runQuery(store.get(params['collection'] ?? ''), body()),
  },
  {
    method: 'POST',
    path: '/collections/{collection}/points/query/batch',
    handle: ({ params, store, body }) => {
      const collection = store.get(params['collection'] ?? '');
      const searches = requireObject(body(), 'QueryRequestBatch')['searches'];
      if (!Array.isArray(searches)) throw QdrantError.format('missing field `searches`');
      return searches.map((search) => runQuery(collection, search));
    },
  },
  {
    method: 'POST',
    path: '/collections/{collection}/points/scroll',
    handle: ({ params, store, body }) => {
      const collection = store.get(params['collection'] ?? '');
      const request = requireObject(body(), 'ScrollRequest');
      const filter = parseFilter(request['filter']);
      const limit = optionalLimit(request, 'limit', 'limit') ?? 10;
      const payload = parsePayloadSelector(request['with_payload'], true);
      const vector = parseVectorSelector(request['with_vector'], false);
      const orderBy = parseOrderBy(collection, request['order_by']);
      const rawOffset = request['offset'];
      const offset = rawOffset === undefined || rawOffset === null ? undefined : parsePointId(rawOffset);
      const points = matching(collection, filter);

      if (orderBy !== undefined) {
        if (offset !== undefined) throw QdrantError.badRequest('Offset is not supported in conjunction with `order_by` scroll parameter');
        const path = parseJsonPath(orderBy.key);
        // A point appears once per value of a multi-valued key, as in Qdrant.
        const entries: Array<{ point: StoredPoint; value: number }> = [];
        for (const point of points) {
          for (const raw of valuesAtPath(point.payload, path) ?? []) {
            const value = orderValue(raw);
            if (value === undefined) continue;
            if (orderBy.startFrom !== undefined && (orderBy.descending ? value > orderBy.startFrom : value < orderBy.startFrom)) continue;
            entries.push({ point, value });
          }
        }
        entries.sort((a, b) => (orderBy.descending ? b.value - a.value : a.value - b.value) || comparePointIds(a.point.id, b.point.id));
        return {
          points: entries.slice(0, limit).map(({ point, value }) => ({ ...pointRecord(collection, point, payload, vector), order_value: value })),
          next_page_offset: null,
        };
      }

      const start = offset === undefined ? 0 : points.findIndex((p) => comparePointIds(p.id, offset) >= 0);
      const page = start < 0 ? [] : points.slice(start, start + limit + 1);
      const next = page.length > limit ? page.pop() : undefined;
      return {
        points: page.map((p) => pointRecord(collection, p, payload, vector)),
        next_page_offset: next === undefined ? null : pointIdToJson(next.id),
      };
    },
  },
  {
    method: 'POST',
    path: '/collections/{collection}/points/count',
    handle: ({ params, store, body }) => {
      const collection = store.get(params['collection'] ?? '');
      const request = requireObject(body(), 'CountRequest');
      return { count: matching(collection, parseFilter(request['filter'])).length };
    },
  },
];
