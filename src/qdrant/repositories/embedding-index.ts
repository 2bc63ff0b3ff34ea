import type { Schemas } from '@qdrant/js-client-rest';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { parseInput } from '../../parse-input.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { CONFIG } from '../../tokens.js';
import { knowledgeCollectionName } from '../knowledge-collection.js';
import { knowledgePointId } from '../knowledge-point-id.js';
import { QdrantConnection } from '../qdrant-connection.js';
import { withQdrantErrors } from '../map-qdrant-error.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** One chunk's vector. */
export interface EmbeddingPoint {
  readonly documentId: string;
  readonly version: number;
  readonly ordinal: number;
  readonly vector: readonly number[] | Float32Array;
}

/** A search hit; the chunk text is hydrated from MongoDB by (documentId, version, ordinal). */
export interface EmbeddingHit {
  readonly pointId: string;
  readonly score: number;
  readonly documentId: string;
  readonly version: number;
  readonly ordinal: number;
}

export interface EmbeddingSearchOptions {
  /** 1–1000, default 10. */
  readonly limit?: number;
  /** Only these documents (still within the caller's organization). */
  readonly documentIds?: readonly string[];
  /** Drop hits scoring below this (Cosine: -1 … 1). */
  readonly scoreThreshold?: number;
}

/** The payload stored with each point. No text: texts live in MongoDB. */
interface PointPayload {
  organizationId: string;
  documentId: string;
  version: number;
  ordinal: number;
}

export const DEFAULT_UPSERT_BATCH_SIZE = 128;

const id = z.string().trim().min(1).max(200);
const version = z.number().int('must be an integer').min(1);
const ordinal = z.number().int('must be an integer').min(0);
const vector = z.array(z.number().refine(Number.isFinite, 'must be finite')).min(1, 'must not be empty').max(65_536);
const pointSchema = z.object({ documentId: id, version, ordinal, vector }).strict();
const searchSchema = z
  .object({
    limit: z.number().int().min(1).max(1000).default(10),
    documentIds: z.array(id).min(1).max(10_000).optional(),
    scoreThreshold: z.number().min(-1).max(1).optional(),
  })
  .strict();

function toArray(v: readonly number[] | Float32Array): number[] {
  return Array.from(v);
}

function organizationFilter(organizationId: string): Schemas['FieldCondition'] {
  return { key: 'organizationId', match: { value: organizationId } };
}

function documentFilter(documentId: string): Schemas['FieldCondition'] {
  return { key: 'documentId', match: { value: documentId } };
}

/**
 * Chunk embeddings in Qdrant. Every read and write is scoped to the caller's
 * organization: points carry it in their payload, and every search, count
 * and delete has it as a `must` condition. There is no method without a
 * TenantContext (or, for deleteByOrganization, an AdminScope).
 */
@injectable()
@accessControlled
export class EmbeddingIndex {
  constructor(
    @inject(QdrantConnection) private readonly qdrant: QdrantConnection,
    @inject(CONFIG) private readonly config: Config,
  ) {}

  get collectionName(): string {
    return knowledgeCollectionName(this.config.qdrant.collectionPrefix);
  }

  #run<T>(operation: () => Promise<T>): Promise<T> {
    return withQdrantErrors(operation, this.qdrant.redactedUrl);
  }

  /**
   * Upserts points in batches (`wait: true`, so a returned call means
   * searchable). Ids are deterministic, so repeating a batch after a crash
   * overwrites the same points.
   *
   * @throws ValidationError (bad point, or a vector of the wrong size for the collection), NotFoundError (collection not provisioned), StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:write' })
  async upsert(ctx: TenantContext, points: readonly EmbeddingPoint[], options: { batchSize?: number } = {}): Promise<{ upserted: number; batches: number }> {
    const { organizationId } = requireTenantContext(ctx);
    const batchSize = parseInput(z.number().int().min(1).max(10_000).default(DEFAULT_UPSERT_BATCH_SIZE), options.batchSize, 'batchSize');
    const parsed = points.map((p, i) => parseInput(pointSchema, { ...p, vector: toArray(p.vector) }, `points.${i}`));
    let batches = 0;
    for (let start = 0; start < parsed.length; start += batchSize) {
      const batch = parsed.slice(start, start + batchSize).map((p) => ({
        id: knowledgePointId(organizationId, p.documentId, p.version, p.ordinal),
        vector: p.vector,
        payload: { organizationId, documentId: p.documentId, version: p.version, ordinal: p.ordinal } satisfies PointPayload,
      }));
      await this.#run(() => this.qdrant.client.upsert(this.collectionName, { wait: true, points: batch }));
      batches++;
    }
    return { upserted: parsed.length, batches };
  }

  /** Deletes every point of a document, all versions (the document itself was deleted). */
  @declareAccess({ requires: 'knowledge:write' })
  async deleteByDocument(ctx: TenantContext, documentId: string): Promise<void> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(id, documentId, 'documentId');
    await this.#delete({ must: [organizationFilter(organizationId), documentFilter(docId)] });
  }

  /**
   * Deletes a document's points of every version below `belowVersion`.
   * Versions only grow, so "below" is safe under concurrency where "all but
   * one" is not: a worker holding an outdated idea of the current version
   * can only remove versions that are already obsolete, never a newer one
   * being written by another worker at the same moment.
   */
  @declareAccess({ requires: 'knowledge:write' })
  async deleteVersionsBelow(ctx: TenantContext, documentId: string, belowVersion: number): Promise<void> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(id, documentId, 'documentId');
    const below = parseInput(version, belowVersion, 'belowVersion');
    await this.#delete({ must: [organizationFilter(organizationId), documentFilter(docId), { key: 'version', range: { lt: below } }] });
  }

  /**
   * Deletes the points of one document version from ordinal `fromOrdinal`
   * on: the tail left over when the same version is split into fewer chunks
   * (a reindex after a splitter change). Ordinals below stay, so a search
   * during a reindex still finds the document.
   */
  @declareAccess({ requires: 'knowledge:write' })
  async deleteOrdinalsFrom(ctx: TenantContext, documentId: string, documentVersion: number, fromOrdinal: number): Promise<void> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(id, documentId, 'documentId');
    const v = parseInput(version, documentVersion, 'version');
    const from = parseInput(ordinal, fromOrdinal, 'fromOrdinal');
    await this.#delete({
      must: [organizationFilter(organizationId), documentFilter(docId), { key: 'version', match: { value: v } }, { key: 'ordinal', range: { gte: from } }],
    });
  }

  #delete(filter: Schemas['Filter']): Promise<unknown> {
    return this.#run(() => this.qdrant.client.delete(this.collectionName, { wait: true, filter }));
  }

  /**
   * Nearest chunks of the caller's organization. The organization condition
   * is always a `must`; a hit whose payload names another organization
   * (impossible unless the server ignored the filter) is dropped, not returned.
   *
   * @throws ValidationError, NotFoundError (collection not provisioned), StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:read' })
  async search(ctx: TenantContext, query: readonly number[] | Float32Array, options: EmbeddingSearchOptions = {}): Promise<EmbeddingHit[]> {
    const { organizationId } = requireTenantContext(ctx);
    const v = parseInput(vector, toArray(query), 'vector');
    const o = parseInput(searchSchema, options);
    const must: Schemas['Condition'][] = [organizationFilter(organizationId)];
    if (o.documentIds) must.push({ key: 'documentId', match: { any: [...o.documentIds] } });
    const result = await this.#run(() =>
      this.qdrant.client.query(this.collectionName, {
        query: v,
        filter: { must },
        limit: o.limit,
        ...(o.scoreThreshold === undefined ? {} : { score_threshold: o.scoreThreshold }),
        with_payload: ['organizationId', 'documentId', 'version', 'ordinal'],
      }),
    );
    return result.points.flatMap((p) => {
      const payload = (p.payload ?? {}) as Partial<PointPayload>;
      if (payload.organizationId !== organizationId || typeof payload.documentId !== 'string') return [];
      return [{ pointId: String(p.id), score: p.score, documentId: payload.documentId, version: Number(payload.version), ordinal: Number(payload.ordinal) }];
    });
  }

  /** Points stored for a document (one version, or all), counted exactly. */
  @declareAccess({ requires: 'knowledge:read' })
  async countByDocument(ctx: TenantContext, documentId: string, options: { version?: number } = {}): Promise<number> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(id, documentId, 'documentId');
    const must: Schemas['Condition'][] = [organizationFilter(organizationId), documentFilter(docId)];
    if (options.version !== undefined) must.push({ key: 'version', match: { value: parseInput(version, options.version, 'version') } });
    const { count } = await this.#run(() => this.qdrant.client.count(this.collectionName, { filter: { must }, exact: true }));
    return count;
  }

  /** Every point of one organization (organization deletion). @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async deleteByOrganization(scope: AdminScope, organizationId: string): Promise<void> {
    assertAdminScope(scope);
    const org = parseInput(id, organizationId, 'organizationId');
    await this.#run(() => this.qdrant.client.delete(this.collectionName, { wait: true, filter: { must: [organizationFilter(org)] } }));
  }

  /** Points of one organization (for verification after deletion). @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async countByOrganization(scope: AdminScope, organizationId: string): Promise<number> {
    assertAdminScope(scope);
    const org = parseInput(id, organizationId, 'organizationId');
    const { count } = await this.#run(() => this.qdrant.client.count(this.collectionName, { filter: { must: [organizationFilter(org)] }, exact: true }));
    return count;
  }
}
