import type { Collection, CollectionStore, VectorParams } from './collection-store.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json-codec.js';
import { parseJsonPath } from './json-path.js';
import { QdrantError } from './qdrant-error.js';
import { requireObject } from './request-reader.js';
import { operationResult, type Route } from './route.js';
import { DISTANCES, isDistance } from './vector-distance.js';

const MAX_DIMENSION = 65536;
const PAYLOAD_SCHEMA_TYPES = ['keyword', 'integer', 'float', 'geo', 'text', 'bool', 'datetime', 'uuid'];

function parseVectorParams(raw: JsonValue, where: string): VectorParams {
  const config = requireObject(raw, 'VectorParams');
  if (config['multivector_config'] !== undefined && config['multivector_config'] !== null) {
    throw QdrantError.unsupported('multivector collections');
  }
  const size = config['size'];
  if (size === undefined) throw QdrantError.format('missing field `size`');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw QdrantError.format(`invalid value for \`size\`, expected u64`);
  }
  if (size < 1 || size > MAX_DIMENSION) {
    throw QdrantError.validation([`${where}.size: value ${size} invalid, must be from 1 to ${MAX_DIMENSION}`]);
  }
  const distance = config['distance'];
  if (distance === undefined) throw QdrantError.format('missing field `distance`');
  if (!isDistance(distance)) {
    throw QdrantError.format(`unknown variant \`${String(distance)}\`, expected one of ${DISTANCES.map((d) => `\`${d}\``).join(', ')}`);
  }
  return { size, distance, config };
}

function parseVectorsConfig(raw: JsonValue | undefined): { vectors: Map<string, VectorParams>; namedVectors: boolean } {
  const vectors = new Map<string, VectorParams>();
  if (raw === undefined || raw === null) return { vectors, namedVectors: true };
  const object = requireObject(raw, 'VectorsConfig');
  if ('size' in object || 'distance' in object) {
    vectors.set('', parseVectorParams(object, 'vectors'));
    return { vectors, namedVectors: false };
  }
  for (const [name, params] of Object.entries(object)) vectors.set(name, parseVectorParams(params, `vectors.${name}`));
  return { vectors, namedVectors: true };
}

function parseFieldSchema(raw: JsonValue | undefined): { dataType: string; params?: JsonObject } {
  if (typeof raw === 'string' && PAYLOAD_SCHEMA_TYPES.includes(raw)) return { dataType: raw };
  if (isJsonObject(raw) && typeof raw['type'] === 'string' && PAYLOAD_SCHEMA_TYPES.includes(raw['type'])) {
    return { dataType: raw['type'], params: raw };
  }
  if (raw === undefined || raw === null) throw QdrantError.badInput("Can't auto-detect field type, please specify `field_schema` in the request");
  throw QdrantError.format('data did not match any variant of untagged enum PayloadFieldSchema');
}

/** Collection-level endpoints: create, info, exists, list, update, delete, payload indexes, aliases. */
export const collectionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/collections',
    handle: ({ store }) => ({ collections: store.names().map((name) => ({ name })) }),
  },
  {
    method: 'PUT',
    path: '/collections/{collection}',
    handle: ({ params, store, body }) => {
      const request = requireObject(body(), 'CreateCollection');
      const sparse = request['sparse_vectors'];
      if (isJsonObject(sparse) && Object.keys(sparse).length > 0) throw QdrantError.unsupported('sparse vectors');
      if (request['init_from'] !== undefined && request['init_from'] !== null) throw QdrantError.unsupported('`init_from`');
      refuseStrictMode(request);
      const { vectors, namedVectors } = parseVectorsConfig(request['vectors']);
      const metadata = request['metadata'];
      const collection = store.create(params['collection'] ?? '', { vectors, namedVectors, ...(isJsonObject(metadata) ? { metadata } : {}) });
      applyTuning(collection, request);
      return true;
    },
  },
  {
    method: 'GET',
    path: '/collections/{collection}',
    handle: ({ params, store }) => store.get(params['collection'] ?? '').info(),
  },
  {
    method: 'PATCH',
    path: '/collections/{collection}',
    handle: ({ params, store, body }) => {
      const collection = store.get(params['collection'] ?? '');
      const request = requireObject(body(), 'UpdateCollection');
      refuseStrictMode(request);
      const sparse = request['sparse_vectors'];
      if (isJsonObject(sparse) && Object.keys(sparse).length > 0) throw QdrantError.unsupported('sparse vectors');
      const perVector = request['vectors'];
      if (isJsonObject(perVector) && Object.keys(perVector).length > 0) throw QdrantError.unsupported('per-vector settings in a collection update');
      const metadata = request['metadata'];
      if (isJsonObject(metadata)) collection.metadata = { ...(collection.metadata ?? {}), ...metadata };
      // Tuning parameters change nothing in exact search, but `GET` reports them as set, like Qdrant.
      applyTuning(collection, request);
      return true;
    },
  },
  {
    method: 'DELETE',
    path: '/collections/{collection}',
    handle: ({ params, store }) => store.delete(params['collection'] ?? ''),
  },
  {
    method: 'GET',
    path: '/collections/{collection}/exists',
    handle: ({ params, store }) => ({ exists: store.has(params['collection'] ?? '') }),
  },
  {
    method: 'PUT',
    path: '/collections/{collection}/index',
    handle: (context) => {
      const collection = context.store.get(context.params['collection'] ?? '');
      const request = requireObject(context.body(), 'CreateFieldIndex');
      const fieldName = request['field_name'];
      if (typeof fieldName !== 'string') throw QdrantError.format('missing field `field_name`');
      parseJsonPath(fieldName);
      const schema = parseFieldSchema(request['field_schema']);
      // Qdrant spends two operation ids on an index change.
      const operationId = collection.beginOperation(2);
      collection.payloadIndexes.set(fieldName, schema);
      return operationResult(operationId, context);
    },
  },
  {
    method: 'DELETE',
    path: '/collections/{collection}/index/{field}',
    handle: (context) => {
      const collection = context.store.get(context.params['collection'] ?? '');
      const operationId = collection.beginOperation(2);
      collection.payloadIndexes.delete(context.params['field'] ?? '');
      return operationResult(operationId, context);
    },
  },
  {
    method: 'GET',
    path: '/collections/{collection}/aliases',
    handle: ({ params, store }) => ({ aliases: store.aliases(store.get(params['collection'] ?? '').name) }),
  },
  {
    method: 'GET',
    path: '/aliases',
    handle: ({ store }) => ({ aliases: store.aliases() }),
  },
  {
    method: 'POST',
    path: '/collections/aliases',
    handle: ({ store, body }) => {
      const request = requireObject(body(), 'ChangeAliasesOperation');
      const actions = request['actions'];
      if (!Array.isArray(actions)) throw QdrantError.format('missing field `actions`');
      store.changeAliases(actions.map((raw) => parseAliasAction(raw)));
      return true;
    },
  },
];

function parseAliasAction(raw: JsonValue): Parameters<CollectionStore['changeAliases']>[0][number] {
  const action = requireObject(raw, 'AliasOperations');
  const text = (object: JsonObject, field: string): string => {
    const value = object[field];
    if (typeof value !== 'string') throw QdrantError.format(`missing field \`${field}\``);
    return value;
  };
  if (isJsonObject(action['create_alias'])) {
    const spec = action['create_alias'];
    return { kind: 'create', alias: text(spec, 'alias_name'), collection: text(spec, 'collection_name') };
  }
  if (isJsonObject(action['delete_alias'])) return { kind: 'delete', alias: text(action['delete_alias'], 'alias_name') };
  if (isJsonObject(action['rename_alias'])) {
    const spec = action['rename_alias'];
    return { kind: 'rename', from: text(spec, 'old_alias_name'), to: text(spec, 'new_alias_name') };
  }
  throw QdrantError.format('data did not match any variant of untagged enum AliasOperations');
}

/** Strict mode limits requests (unindexed filters, query limits...); the stand-in enforces none of them, so it refuses to enable it. */
function refuseStrictMode(request: JsonObject): void {
  const strict = request['strict_mode_config'];
  if (isJsonObject(strict) && strict['enabled'] === true) throw QdrantError.unsupported('strict mode (`strict_mode_config.enabled: true`)');
}

/** Records the tuning sections of a create/PATCH request, merged over the current ones. */
function applyTuning(collection: Collection, request: JsonObject): void {
  const merge = (current: JsonObject, patch: JsonValue | undefined): JsonObject => (isJsonObject(patch) ? { ...current, ...patch } : current);
  const tuning = collection.tuning;
  tuning.hnsw_config = merge(tuning.hnsw_config, request['hnsw_config']);
  tuning.optimizer_config = merge(tuning.optimizer_config, request['optimizers_config']);
  tuning.params = merge(tuning.params, request['params']);
  for (const key of ['shard_number', 'replication_factor', 'write_consistency_factor', 'on_disk_payload']) {
    if (request[key] !== undefined && request[key] !== null) tuning.params = { ...tuning.params, [key]: request[key] };
  }
  const quantization = request['quantization_config'];
  if (quantization !== undefined)
    tuning.quantization_config = quantization === null || (isJsonObject(quantization) && 'disabled' in quantization) ? null : quantization;
}
