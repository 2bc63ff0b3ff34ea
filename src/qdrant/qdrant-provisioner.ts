import type { Schemas } from '@qdrant/js-client-rest';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { ConfigError, ValidationError } from '../errors.js';
import type { ProvisionStep, StoreProvisioner } from '../store-provisioner.js';
import { CONFIG, EMBEDDING_DIMENSION } from '../tokens.js';
import { knowledgeCollection, type QdrantCollectionSpec, type QdrantPayloadIndexSpec } from './knowledge-collection.js';
import { QdrantConnection } from './qdrant-connection.js';
import { withQdrantErrors } from './map-qdrant-error.js';

/** What provisioning would still have to do for one collection. */
export interface QdrantCollectionStatus {
  readonly name: string;
  readonly exists: boolean;
  /** Vector size of the existing collection. */
  readonly vectorSize: number | undefined;
  readonly distance: string | undefined;
  readonly missingPayloadIndexes: readonly string[];
  /** Present with another type or without `is_tenant` where wanted. */
  readonly outdatedPayloadIndexes: readonly string[];
}

type PayloadSchemaInfo = Schemas['PayloadIndexInfo'];

function indexState(current: PayloadSchemaInfo | undefined, wanted: QdrantPayloadIndexSpec): 'missing' | 'ok' | 'outdated' {
  if (!current) return 'missing';
  if (current.data_type !== wanted.schema.type) return 'outdated';
  const wantTenant = 'is_tenant' in wanted.schema && wanted.schema.is_tenant === true;
  const params = (current.params ?? {}) as { is_tenant?: unknown };
  return wantTenant && params.is_tenant !== true ? 'outdated' : 'ok';
}

/** Vector size and distance of a collection with one unnamed vector (the only shape this package creates). */
function vectorParams(info: Schemas['CollectionInfo']): { size: number | undefined; distance: string | undefined } {
  const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
  return {
    size: typeof vectors?.size === 'number' ? vectors.size : undefined,
    distance: typeof vectors?.distance === 'string' ? vectors.distance : undefined,
  };
}

function checkDimension(dimension: number): void {
  if (!Number.isInteger(dimension) || dimension < 1 || dimension > 65_536) {
    throw new ValidationError([{ path: 'dimension', message: 'must be an integer from 1 to 65536' }]);
  }
}

/**
 * Ensures the knowledge collection: created if missing (Cosine, vector size =
 * the embedder's dimension), payload indexes on `organizationId` (tenant),
 * `documentId` and `version` (integer); an index missing from a collection
 * made by an older release is created on the next run. Idempotent, and concurrent runs are fine (a 409 on create means
 * someone else created it). The dimension comes in through the
 * EMBEDDING_DIMENSION token because it belongs to the embedder the application
 * configures (the knowledge flows register it), not to this store; it is what
 * `bootstrapPlatform` and `platform.health()` find under the PROVISIONER token.
 */
@injectable()
export class QdrantProvisioner implements StoreProvisioner {
  readonly store = 'qdrant' as const;

  constructor(
    @inject(QdrantConnection) private readonly qdrant: QdrantConnection,
    @inject(CONFIG) private readonly config: Config,
    @inject(EMBEDDING_DIMENSION) private readonly dimension: number,
  ) {}

  /** The collection spec for `dimension` (default: the embedder's). */
  spec(dimension: number = this.dimension): QdrantCollectionSpec {
    return knowledgeCollection(this.config.qdrant.collectionPrefix, dimension);
  }

  #run<T>(operation: () => Promise<T>): Promise<T> {
    return withQdrantErrors(operation, this.qdrant.redactedUrl);
  }

  async #info(name: string): Promise<Schemas['CollectionInfo'] | undefined> {
    const { exists } = await this.#run(() => this.qdrant.client.collectionExists(name));
    return exists ? this.#run(() => this.qdrant.client.getCollection(name)) : undefined;
  }

  /**
   * Creates the knowledge collection with the embedder's dimension and its payload indexes.
   * @throws ConfigError when the existing collection has another vector size or
   *   distance (naming both sizes) — never silently mixed (a different embedder:
   *   see docs/knowledge.md, "Changing the embedding model");
   *   ValidationError for a bad dimension; StoreUnavailableError
   */
  provision(onStep?: (step: ProvisionStep) => void): Promise<ProvisionStep[]> {
    return this.#provision(this.dimension, onStep);
  }

  async #provision(dimension: number, onStep?: (step: ProvisionStep) => void): Promise<ProvisionStep[]> {
    checkDimension(dimension);
    const spec = this.spec(dimension);
    const steps: ProvisionStep[] = [];
    const record = (step: string, changed: boolean, detail?: string): void => {
      const s: ProvisionStep = { store: 'qdrant', step, changed, ...(detail ? { detail } : {}) };
      steps.push(s);
      onStep?.(s);
    };
    let info = await this.#info(spec.name);
    if (!info) {
      let created = true;
      try {
        await this.#run(() =>
          this.qdrant.client.createCollection(spec.name, {
            vectors: { size: spec.vectorSize, distance: spec.distance },
            // Qdrant's multitenancy setup: no global HNSW graph (m: 0), one graph per
            // tenant (payload_m) — every search here is filtered by organization.
            hnsw_config: { payload_m: 16, m: 0 },
          }),
        );
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'CONFLICT') throw error;
        created = false;
      }
      record(`collection ${spec.name}`, created, created ? `created (size ${spec.vectorSize}, ${spec.distance})` : undefined);
      info = await this.#run(() => this.qdrant.client.getCollection(spec.name));
    } else {
      record(`collection ${spec.name}`, false);
    }
    this.#checkVectors(spec, info);
    for (const index of spec.payloadIndexes) {
      const step = `payload index ${spec.name}.${index.field}`;
      const state = indexState(info.payload_schema?.[index.field], index);
      if (state === 'ok') {
        record(step, false);
        continue;
      }
      await this.#run(() => this.qdrant.client.createPayloadIndex(spec.name, { field_name: index.field, field_schema: index.schema, wait: true }));
      record(step, true, state === 'missing' ? `created (${index.schema.type})` : `replaced (${index.schema.type})`);
    }
    return steps;
  }

  #checkVectors(spec: QdrantCollectionSpec, info: Schemas['CollectionInfo']): void {
    const { size, distance } = vectorParams(info);
    if (size !== spec.vectorSize) {
      throw new ConfigError([
        {
          path: 'qdrant.collection',
          message: `collection "${spec.name}" has vector size ${String(size)} but the embedder's dimension is ${spec.vectorSize}; use the embedder the collection was built with, or re-create the collection and reindex`,
        },
      ]);
    }
    if (distance !== spec.distance) {
      throw new ConfigError([{ path: 'qdrant.collection', message: `collection "${spec.name}" uses distance ${String(distance)}, expected ${spec.distance}` }]);
    }
  }

  /** The collection's state against the spec (`dimension` optional: without it, size is reported, not checked). */
  async status(dimension?: number): Promise<QdrantCollectionStatus> {
    const spec = this.spec(dimension ?? 1);
    const info = await this.#info(spec.name);
    if (!info) {
      return {
        name: spec.name,
        exists: false,
        vectorSize: undefined,
        distance: undefined,
        missingPayloadIndexes: spec.payloadIndexes.map((i) => i.field),
        outdatedPayloadIndexes: [],
      };
    }
    const { size, distance } = vectorParams(info);
    const states = spec.payloadIndexes.map((i) => [i.field, indexState(info.payload_schema?.[i.field], i)] as const);
    return {
      name: spec.name,
      exists: true,
      vectorSize: size,
      distance,
      missingPayloadIndexes: states.filter(([, s]) => s === 'missing').map(([f]) => f),
      outdatedPayloadIndexes: states.filter(([, s]) => s === 'outdated').map(([f]) => f),
    };
  }

  /** Human-readable list of what provision() would still do or refuse (missing collection or indexes, another vector size); empty when provisioned. */
  pending(): Promise<string[]> {
    return this.#pending(this.dimension);
  }

  async #pending(dimension: number): Promise<string[]> {
    const s = await this.status(dimension);
    if (!s.exists) return [`collection ${s.name} missing`];
    return [
      ...(s.vectorSize !== dimension ? [`collection ${s.name} has vector size ${String(s.vectorSize)}, embedder has ${dimension}`] : []),
      ...s.missingPayloadIndexes.map((f) => `payload index ${s.name}.${f} missing`),
      ...s.outdatedPayloadIndexes.map((f) => `payload index ${s.name}.${f} outdated`),
    ];
  }

  /** This provisioner bound to another dimension than the embedder's (a second embedder, a migration to a new model). */
  forDimension(dimension: number): StoreProvisioner {
    return {
      store: 'qdrant',
      provision: (onStep) => this.#provision(dimension, onStep),
      pending: () => this.#pending(dimension),
    };
  }
}
