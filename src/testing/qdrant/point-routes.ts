import type { Collection, StoredPoint } from './collection-store.js';
import { matchesFilter, parseFilter } from './filter-matcher.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json-codec.js';
import { deleteAtPath, mergeAtPath, parseJsonPath } from './json-path.js';
import { parsePayloadSelector } from './payload-selector.js';
import { parsePointId, pointIdKey, type PointId } from './point-id.js';
import { parseVectorSelector, pointRecord } from './point-record.js';
import { QdrantError } from './qdrant-error.js';
import { optionalString, requireObject } from './request-reader.js';
import { operationResult, type Route, type RouteContext } from './route.js';

interface PendingPoint {
  readonly id: PointId;
  readonly vectors: Map<string, Float32Array>;
  readonly payload: JsonObject;
}

function parsePayload(value: JsonValue | undefined, where: string): JsonObject {
  if (value === undefined || value === null) return {};
  if (!isJsonObject(value)) throw QdrantError.format(`${where}: invalid type, expected a map`);
  return structuredClone(value);
}

function parseIdList(value: JsonValue | undefined, field: string): PointId[] {
  if (!Array.isArray(value)) throw QdrantError.format(`invalid type for \`${field}\`, expected a sequence of point ids`);
  return value.map((id) => parsePointId(id));
}

/** Reads the `points` / `batch` forms of an upsert, validating everything before anything is written. */
function parseUpsert(collection: Collection, request: JsonObject): PendingPoint[] {
  if (Array.isArray(request['points'])) {
    return request['points'].map((raw, index) => {
      const where = `points[${index}]`;
      const point = requireObject(raw, 'PointStruct');
      if (point['id'] === undefined) throw QdrantError.format('missing field `id`');
      const id = parsePointId(point['id']);
      return { id, vectors: collection.prepareVectors(point['vector'], where), payload: parsePayload(point['payload'], `${where}.payload`) };
    });
  }
  const batch = request['batch'];
  if (isJsonObject(batch)) {
    const ids = parseIdList(batch['ids'], 'ids');
    const rawVectors = batch['vectors'];
    const payloads = batch['payloads'];
    const perPoint: JsonValue[] = [];
    let vectorCount: number;
    if (Array.isArray(rawVectors)) {
      vectorCount = rawVectors.length;
      perPoint.push(...rawVectors);
    } else if (isJsonObject(rawVectors)) {
      const names = Object.entries(rawVectors);
      vectorCount = ids.length;
      for (const [, list] of names) {
        if (!Array.isArray(list) || list.length !== ids.length) throw QdrantError.badInput('Number of ids, vectors and payloads must match');
      }
      for (let i = 0; i < ids.length; i += 1) {
        const named: JsonObject = {};
        for (const [name, list] of names) named[name] = (list as JsonValue[])[i] ?? null;
        perPoint.push(named);
      }
    } else {
      throw QdrantError.format('missing field `vectors`');
    }
    if (vectorCount !== ids.length || (Array.isArray(payloads) && payloads.length !== ids.length)) {
      throw QdrantError.badInput('Number of ids, vectors and payloads must match');
    }
    return ids.map((id, i) => ({
      id,
      vectors: collection.prepareVectors(perPoint[i], `batch.vectors[${i}]`),
      payload: parsePayload(Array.isArray(payloads) ? payloads[i] : undefined, `batch.payloads[${i}]`),
    }));
  }
  throw QdrantError.format('data did not match any variant of untagged enum PointInsertOperations');
}

/** The points a `{points: [...]}` / `{filter: {...}}` selector picks (missing ids are skipped). */
function selectPoints(collection: Collection, request: JsonObject, requireExisting: boolean): StoredPoint[] {
  if (request['points'] !== undefined && request['points'] !== null) {
    const ids = parseIdList(request['points'], 'points');
    const points: StoredPoint[] = [];
    for (const id of ids) {
      const point = requireExisting ? collection.requirePoint(id) : collection.getPoint(id);
      if (point !== undefined) points.push(point);
    }
    return points;
  }
  if (request['filter'] !== undefined && request['filter'] !== null) {
    const filter = parseFilter(request['filter']);
    const context = collection.filterContext();
    return collection.sortedPoints().filter((p) => matchesFilter(filter, { id: p.id, payload: p.payload, vectorNames: new Set(p.vectors.keys()) }, context));
  }
  throw QdrantError.format('data did not match any variant of untagged enum PointsSelector');
}

function payloadSelectorTarget(collection: Collection, request: JsonObject): StoredPoint[] {
  if ((request['points'] === undefined || request['points'] === null) && (request['filter'] === undefined || request['filter'] === null)) {
    throw QdrantError.badInput('Either list of point ids or filter must be provided');
  }
  return selectPoints(collection, request, true);
}

function rewritePayloads(context: RouteContext, update: (collection: Collection, request: JsonObject) => Array<[StoredPoint, JsonObject]>): unknown {
  const collection = context.store.get(context.params['collection'] ?? '');
  const request = requireObject(context.body(), 'SetPayload');
  const changes = update(collection, request);
  const operationId = collection.beginOperation();
  for (const [point, payload] of changes) collection.putPoint({ ...point, payload, version: operationId });
  return operationResult(operationId, context);
}

function setPayload(overwrite: boolean): (context: RouteContext) => unknown {
  return (context) =>
    rewritePayloads(context, (collection, request) => {
      const payload = request['payload'];
      if (!isJsonObject(payload)) throw QdrantError.format('missing field `payload`');
      const key = optionalString(request, 'key');
      const path = key === undefined ? undefined : parseJsonPath(key);
      return payloadSelectorTarget(collection, request).map((point) => {
        if (path === undefined) {
          return [point, overwrite ? structuredClone(payload) : { ...structuredClone(point.payload), ...structuredClone(payload) }];
        }
        const next = overwrite ? {} : structuredClone(point.payload);
        mergeAtPath(next, path, payload);
        return [point, next];
      });
    });
}

/** Point endpoints: upsert, retrieve, delete, payload and vector updates. */
export const pointRoutes: readonly Route[] = [
  {
    method: 'PUT',
    path: '/collections/{collection}/points',
    handle: (context) => {
      const collection = context.store.get(context.params['collection'] ?? '');
      const pending = parseUpsert(collection, requireObject(context.body(), 'PointInsertOperations'));
      const operationId = collection.beginOperation();
      for (const point of pending) collection.putPoint({ ...point, version: operationId });
      return operationResult(operationId, context);
    },
  },
  {
    method: 'POST',
    path: '/collections/{collection}/points',
    handle: ({ params, store, body }) => {
      const collection = store.get(params['collection'] ?? '');
      const request = requireObject(body(), 'PointRequest');
      const ids = parseIdList(request['ids'], 'ids');
      const payload = parsePayloadSelector(request['with_payload'], true);
      const vector = parseVectorSelector(request['with_vector'], false);
      const seen = new Set<string>();
      const records: unknown[] = [];
      for (const id of ids) {
        const key = pointIdKey(id);
        const point = collection.getPoint(id);
        if (point === undefined || seen.has(key)) continue;
        seen.add(key);
        records.push(pointRecord(collection, point, payload, vector));
      }
      return records;
    },
  },
  {
    method: 'GET',
    path: '/collections/{collection}/points/{id}',
    handle: ({ params, store }) => {
      const collection = store.get(params['collection'] ?? '');
      const raw = params['id'] ?? '';
      const id = parsePointId(/^\d+$/.test(raw) ? BigInt(raw) : raw);
      return pointRecord(collection, collection.requirePoint(id), { kind: 'all' }, true);
    },
  },
  {
    method: 'POST',
    path: '/collections/{collection}/points/delete',
    handle: (context) => {
      const collection = context.store.get(context.params['collection'] ?? '');
      const doomed = selectPoints(collection, requireObject(context.body(), 'PointsSelector'), false);
      const operationId = collection.beginOperation();
      for (const point of doomed) collection.deletePoint(point.id);
      return operationResult(operationId, context);
    },
  },
  { method: 'POST', path: '/collections/{collection}/points/payload', handle: setPayload(false) },
  { method: 'PUT', path: '/collections/{collection}/points/payload', handle: setPayload(true) },
  {
    method: 'POST',
    path: '/collections/{collection}/points/payload/delete',
    handle: (context) =>
      rewritePayloads(context, (collection, request) => {
        const keys = request['keys'];
        if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw QdrantError.format('missing field `keys`');
        const paths = (keys as string[]).map((k) => parseJsonPath(k));
        return payloadSelectorTarget(collection, request).map((point) => {
          const next = structuredClone(point.payload);
          for (const path of paths) deleteAtPath(next, path);
          return [point, next];
        });
      }),
  },
  {
    method: 'POST',
    path: '/collections/{collection}/points/payload/clear',
    handle: (context) => rewritePayloads(context, (collection, request) => selectPoints(collection, request, false).map((point) => [point, {}])),
  },
  {
    method: 'PUT',
    path: '/collections/{collection}/points/vectors',
    handle: (context) => {
      const collection = context.store.get(context.params['collection'] ?? '');
      const request = requireObject(context.body(), 'UpdateVectors');
      const rawPoints = request['points'];
      if (!Array.isArray(rawPoints)) throw QdrantError.format('missing field `points`');
      const updates = rawPoints.map((raw, index) => {
        const point = requireObject(raw, 'PointVectors');
        const stored = collection.requirePoint(parsePointId(point['id']));
        return { stored, vectors: collection.prepareVectors(point['vector'], `points[${index}]`) };
      });
      const operationId = collection.beginOperation();
      for (const { stored, vectors } of updates) {
        const current = collection.getPoint(stored.id) ?? stored;
        collection.putPoint({ ...current, vectors: new Map([...current.vectors, ...vectors]), version: operationId });
      }
      return operationResult(operationId, context);
    },
  },
  {
    method: 'POST',
    path: '/collections/{collection}/points/vectors/delete',
    handle: (context) => {
      const collection = context.store.get(context.params['collection'] ?? '');
      const request = requireObject(context.body(), 'DeleteVectors');
      const names = request['vector'];
      if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw QdrantError.format('missing field `vector`');
      for (const name of names as string[]) collection.vectorParams(name);
      const targets = selectPoints(collection, request, false);
      const operationId = collection.beginOperation();
      for (const point of targets) {
        const vectors = new Map(point.vectors);
        for (const name of names as string[]) vectors.delete(name);
        collection.putPoint({ ...point, vectors, version: operationId });
      }
      return operationResult(operationId, context);
    },
  },
];
