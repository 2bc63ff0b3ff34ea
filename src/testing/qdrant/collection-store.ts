import type { FilterContext } from './filter-matcher.js';
import { isJsonObject, parseJsonBody, type JsonObject, type JsonValue } from './json-codec.js';
import { parseJsonPath, valuesAtPath } from './json-path.js';
import { comparePointIds, formatPointId, pointIdKey, type PointId } from './point-id.js';
import { float32ArrayToJson } from './float32-format.js';
import { QdrantError } from './qdrant-error.js';
import { isDistance, prepareVector, type Distance } from './vector-distance.js';

/** One dense vector space of a collection (`""` is the unnamed default vector). */
export interface VectorParams {
  readonly size: number;
  readonly distance: Distance;
  /** The vector config as given at creation, echoed back by collection info. */
  readonly config: JsonObject;
}

export interface StoredPoint {
  readonly id: PointId;
  readonly vectors: ReadonlyMap<string, Float32Array>;
  readonly payload: JsonObject;
  /** Id of the last operation that changed the point, as Qdrant reports it. */
  readonly version: number;
}

export interface PayloadIndex {
  readonly dataType: string;
  readonly params?: JsonObject;
}

export interface CollectionDefinition {
  readonly vectors: ReadonlyMap<string, VectorParams>;
  readonly namedVectors: boolean;
  readonly metadata?: JsonObject;
}

/** One in-memory collection. Every method is synchronous, so each request applies atomically. */
export class Collection {
  readonly name: string;
  readonly vectors: ReadonlyMap<string, VectorParams>;
  readonly namedVectors: boolean;
  metadata: JsonObject | undefined;
  /** Settings given at creation or by PATCH (hnsw, optimizers, params, quantization), reported by `info()`. */
  readonly tuning: { hnsw_config: JsonObject; optimizer_config: JsonObject; params: JsonObject; quantization_config: JsonValue } = {
    hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
    optimizer_config: {
      deleted_threshold: 0.2,
      vacuum_min_vector_number: 1000,
      default_segment_number: 0,
      max_segment_size: null,
      memmap_threshold: null,
      indexing_threshold: 10000,
      flush_interval_sec: 5,
      max_optimization_threads: null,
      prevent_unoptimized: null,
    },
    params: { shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true },
    quantization_config: null,
  };
  readonly payloadIndexes = new Map<string, PayloadIndex>();
  #points = new Map<string, StoredPoint>();
  #sorted: StoredPoint[] | undefined;
  #lastOperationId = 0;

  constructor(name: string, definition: CollectionDefinition, lastOperationId = 0) {
    this.name = name;
    this.vectors = definition.vectors;
    this.namedVectors = definition.namedVectors;
    this.metadata = definition.metadata;
    this.#lastOperationId = lastOperationId;
  }

  /** Allocates operation ids; Qdrant spends two on a payload index change. */
  beginOperation(step = 1): number {
    this.#lastOperationId += step;
    return this.#lastOperationId;
  }

  get lastOperationId(): number {
    return this.#lastOperationId;
  }

  get pointCount(): number {
    return this.#points.size;
  }

  getPoint(id: PointId): StoredPoint | undefined {
    return this.#points.get(pointIdKey(id));
  }

  /** @throws {QdrantError} 404 "Not found: No point with id … found". */
  requirePoint(id: PointId): StoredPoint {
    const point = this.getPoint(id);
    if (point === undefined) throw QdrantError.notFound(`No point with id ${formatPointId(id)} found`);
    return point;
  }

  putPoint(point: StoredPoint): void {
    const key = pointIdKey(point.id);
    if (!this.#points.has(key)) this.#sorted = undefined;
    else if (this.#sorted !== undefined) {
      const index = this.#sorted.findIndex((p) => pointIdKey(p.id) === key);
      if (index >= 0) this.#sorted[index] = point;
    }
    this.#points.set(key, point);
  }

  deletePoint(id: PointId): boolean {
    const deleted = this.#points.delete(pointIdKey(id));
    if (deleted) this.#sorted = undefined;
    return deleted;
  }

  /** All points in Qdrant's id order. */
  sortedPoints(): readonly StoredPoint[] {
    this.#sorted ??= [...this.#points.values()].sort((a, b) => comparePointIds(a.id, b.id));
    return this.#sorted;
  }

  filterContext(): FilterContext {
    const textIndexedKeys = new Set<string>();
    for (const [key, index] of this.payloadIndexes) if (index.dataType === 'text') textIndexedKeys.add(key);
    return { textIndexedKeys };
  }

  /** @throws {QdrantError} 400 "Wrong input: Not existing vector name error: …". */
  vectorParams(name: string): VectorParams {
    const params = this.vectors.get(name);
    if (params === undefined) throw QdrantError.badInput(`Not existing vector name error: ${name}`);
    return params;
  }

  /**
   * Turns a point's `vector` field into stored float32 vectors.
   * @throws {QdrantError} 400 for unknown names, wrong dimensions and unsupported vector kinds.
   */
  prepareVectors(input: JsonValue | undefined, where: string): Map<string, Float32Array> {
    const result = new Map<string, Float32Array>();
    if (input === undefined) throw QdrantError.format('missing field `vector`');
    const add = (name: string, raw: JsonValue | undefined, at: string): void => {
      if (!Array.isArray(raw)) {
        if (isJsonObject(raw) && 'indices' in raw) throw QdrantError.unsupported('sparse vectors');
        if (isJsonObject(raw)) throw QdrantError.unsupported('inference objects (document, image) as vectors');
        throw QdrantError.format(`${at}: invalid type, expected a vector`);
      }
      if (raw.length > 0 && raw.every((x) => Array.isArray(x))) throw QdrantError.unsupported('multivectors');
      if (raw.length === 0) throw QdrantError.validation([`${at}: dense vector must not be empty`]);
      const numbers = raw.map((x) => {
        if (typeof x === 'number') return x;
        if (typeof x === 'bigint') return Number(x);
        throw QdrantError.format(`${at}: invalid type, expected f32`);
      });
      const params = this.vectorParams(name);
      if (numbers.length !== params.size) {
        throw QdrantError.badInput(`Vector dimension error: expected dim: ${params.size}, got ${numbers.length}`);
      }
      result.set(name, prepareVector(numbers, params.distance));
    };
    if (Array.isArray(input)) add('', input, `${where}.vector`);
    else if (isJsonObject(input)) for (const [name, raw] of Object.entries(input)) add(name, raw, `${where}.vector.${name}`);
    else throw QdrantError.format(`${where}: data did not match any variant of untagged enum VectorStruct`);
    return result;
  }

  vectorsConfigJson(): JsonValue {
    if (!this.namedVectors) return this.vectors.get('')?.config ?? {};
    const named: JsonObject = {};
    for (const [name, params] of this.vectors) named[name] = params.config;
    return named;
  }

  /** The `GET /collections/{name}` result, shaped like Qdrant 1.19's. */
  info(): JsonObject {
    const payloadSchema: JsonObject = {};
    for (const [key, index] of this.payloadIndexes) {
      const path = parseJsonPath(key);
      let points = 0;
      for (const point of this.#points.values()) {
        const values = valuesAtPath(point.payload, path);
        if (values !== undefined && values.some((v) => v !== null)) points += 1;
      }
      payloadSchema[key] = { data_type: index.dataType, ...(index.params ? { params: index.params } : {}), points };
    }
    return {
      status: 'green',
      optimizer_status: 'ok',
      // No HNSW index is ever built; real Qdrant also reports 0 below its indexing threshold.
      indexed_vectors_count: 0,
      points_count: this.#points.size,
      segments_count: 2,
      config: {
        params: { vectors: this.vectorsConfigJson(), ...this.tuning.params },
        hnsw_config: this.tuning.hnsw_config,
        optimizer_config: this.tuning.optimizer_config,
        wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0, wal_retain_closed: 1 },
        quantization_config: this.tuning.quantization_config,
        ...(this.metadata ? { metadata: this.metadata } : {}),
      },
      payload_schema: payloadSchema,
      update_queue: { length: 0 },
    };
  }
}

const SNAPSHOT_FORMAT = 'platform-data/qdrant-stand-in@1';

/** All collections of one stand-in, plus their snapshot form. */
export class CollectionStore {
  #collections = new Map<string, Collection>();
  /** alias → collection name. */
  readonly #aliases = new Map<string, string>();

  /** @throws {QdrantError} 409 when the name is taken. */
  create(name: string, definition: CollectionDefinition): Collection {
    if (this.#collections.has(name)) throw QdrantError.alreadyExists(`Collection \`${name}\` already exists!`);
    if (this.#aliases.has(name)) throw QdrantError.badInput(`Alias \`${name}\` already exists!`);
    const collection = new Collection(name, definition);
    this.#collections.set(name, collection);
    return collection;
  }

  /**
   * A collection by name or alias.
   * @throws {QdrantError} 404 "Not found: Collection `x` doesn't exist!".
   */
  get(name: string): Collection {
    const collection = this.#collections.get(name) ?? this.#collections.get(this.#aliases.get(name) ?? '');
    if (collection === undefined) throw QdrantError.collectionNotFound(name);
    return collection;
  }

  has(name: string): boolean {
    return this.#collections.has(name);
  }

  /** Deletes a collection (by name, not alias) and the aliases pointing at it. */
  delete(name: string): boolean {
    for (const [alias, target] of this.#aliases) if (target === name) this.#aliases.delete(alias);
    return this.#collections.delete(name);
  }

  /** Aliases as `GET /aliases` lists them, optionally of one collection. */
  aliases(collection?: string): Array<{ alias_name: string; collection_name: string }> {
    return [...this.#aliases]
      .filter(([, target]) => collection === undefined || target === collection)
      .map(([alias_name, collection_name]) => ({ alias_name, collection_name }));
  }

  /**
   * Applies alias actions in order, all or nothing (Qdrant's `POST /collections/aliases`).
   * @throws {QdrantError} 404 for a missing collection or alias.
   */
  changeAliases(
    actions: ReadonlyArray<
      { kind: 'create'; alias: string; collection: string } | { kind: 'delete'; alias: string } | { kind: 'rename'; from: string; to: string }
    >,
  ): void {
    const next = new Map(this.#aliases);
    for (const action of actions) {
      if (action.kind === 'create') {
        if (!this.#collections.has(action.collection)) throw QdrantError.collectionNotFound(action.collection);
        if (this.#collections.has(action.alias)) throw QdrantError.alreadyExists(`Collection \`${action.alias}\` already exists!`);
        next.set(action.alias, action.collection);
      } else if (action.kind === 'delete') {
        if (!next.delete(action.alias)) throw QdrantError.notFound(`Alias \`${action.alias}\` doesn't exist!`);
      } else {
        const target = next.get(action.from);
        if (target === undefined) throw QdrantError.notFound(`Alias \`${action.from}\` doesn't exist!`);
        next.delete(action.from);
        next.set(action.to, target);
      }
    }
    this.#aliases.clear();
    for (const [alias, target] of next) this.#aliases.set(alias, target);
  }

  names(): string[] {
    return [...this.#collections.keys()];
  }

  /** A JSON-ready copy of everything, vectors written as shortest float32 decimals. */
  toSnapshot(): JsonObject {
    return {
      format: SNAPSHOT_FORMAT,
      collections: [...this.#collections.values()].map((c) => {
        const vectors: JsonObject = {};
        for (const [name, params] of c.vectors) vectors[name] = params.config;
        const indexes: JsonObject = {};
        for (const [key, index] of c.payloadIndexes) indexes[key] = { data_type: index.dataType, ...(index.params ? { params: index.params } : {}) };
        return {
          name: c.name,
          named_vectors: c.namedVectors,
          vectors,
          ...(c.metadata ? { metadata: c.metadata } : {}),
          last_operation_id: c.lastOperationId,
          payload_indexes: indexes,
          points: c.sortedPoints().map((p) => {
            const pointVectors: JsonObject = {};
            for (const [name, vector] of p.vectors) pointVectors[name] = float32ArrayToJson(vector);
            return { id: typeof p.id === 'bigint' ? p.id.toString() : p.id, vectors: pointVectors, payload: p.payload, version: p.version };
          }),
        };
      }),
    };
  }

  /**
   * Rebuilds a store from `toSnapshot()` output (as JSON text).
   * @throws {Error} when the text is not a snapshot of this format.
   */
  static fromSnapshot(text: string): CollectionStore {
    const store = new CollectionStore();
    const snapshot = parseJsonBody(text);
    if (!isJsonObject(snapshot) || snapshot['format'] !== SNAPSHOT_FORMAT || !Array.isArray(snapshot['collections'])) {
      throw new Error(`Not a Qdrant stand-in snapshot (expected format ${SNAPSHOT_FORMAT})`);
    }
    for (const raw of snapshot['collections']) {
      if (!isJsonObject(raw) || typeof raw['name'] !== 'string' || !isJsonObject(raw['vectors'])) throw new Error('Malformed collection in snapshot');
      const vectors = new Map<string, VectorParams>();
      for (const [name, config] of Object.entries(raw['vectors'])) {
        if (!isJsonObject(config) || typeof config['size'] !== 'number' || !isDistance(config['distance']))
          throw new Error('Malformed vector config in snapshot');
        vectors.set(name, { size: config['size'], distance: config['distance'], config });
      }
      const metadata = raw['metadata'];
      const collection = new Collection(
        raw['name'],
        { vectors, namedVectors: raw['named_vectors'] === true, ...(isJsonObject(metadata) ? { metadata } : {}) },
        typeof raw['last_operation_id'] === 'number' ? raw['last_operation_id'] : 0,
      );
      if (isJsonObject(raw['payload_indexes'])) {
        for (const [key, index] of Object.entries(raw['payload_indexes'])) {
          if (!isJsonObject(index) || typeof index['data_type'] !== 'string') continue;
          const params = index['params'];
          collection.payloadIndexes.set(key, { dataType: index['data_type'], ...(isJsonObject(params) ? { params } : {}) });
        }
      }
      for (const point of Array.isArray(raw['points']) ? raw['points'] : []) {
        if (!isJsonObject(point) || typeof point['id'] !== 'string' || !isJsonObject(point['vectors']) || !isJsonObject(point['payload'])) {
          throw new Error('Malformed point in snapshot');
        }
        const id: PointId = point['id'].includes('-') ? point['id'] : BigInt(point['id']);
        const pointVectors = new Map<string, Float32Array>();
        for (const [name, values] of Object.entries(point['vectors'])) {
          if (Array.isArray(values))
            pointVectors.set(
              name,
              Float32Array.from(values, (v) => Number(v)),
            );
        }
        collection.putPoint({ id, vectors: pointVectors, payload: point['payload'], version: typeof point['version'] === 'number' ? point['version'] : 0 });
      }
      store.#collections.set(collection.name, collection);
    }
    return store;
  }
}
