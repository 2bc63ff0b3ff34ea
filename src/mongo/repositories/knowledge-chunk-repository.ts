import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput } from '../../parse-input.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { mongoId } from './mongo-inputs.js';
import { MongoConnection } from '../mongo-connection.js';
import { MongoAccess } from './mongo-access.js';
import type { KnowledgeChunkDocument } from '../mongo-models.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export interface KnowledgeChunk {
  /** `${documentId}:${version}:${ordinal}`. */
  readonly id: string;
  readonly organizationId: string;
  readonly documentId: string;
  readonly version: number;
  readonly ordinal: number;
  readonly text: string;
  readonly tokenCount: number;
  readonly createdAt: Date;
}

export interface KnowledgeChunkInput {
  readonly text: string;
  readonly tokenCount?: number;
}

const version = z.number().int('must be an integer').min(1);
const chunksSchema = z.array(z.object({ text: z.string().max(1_000_000), tokenCount: z.number().int().min(0).default(0) }).strict()).max(100_000);

// One bulkWrite per batch keeps each command far below the 48 MB message limit.
const WRITE_BATCH = 500;

/** The id of chunk `ordinal` of `documentId` at `version`: deterministic, so a retry overwrites. */
export function knowledgeChunkId(documentId: string, version: number, ordinal: number): string {
  return `${documentId}:${version}:${ordinal}`;
}

export function toKnowledgeChunk(r: KnowledgeChunkDocument): KnowledgeChunk {
  return {
    id: r._id,
    organizationId: r.organizationId,
    documentId: r.documentId,
    version: r.version,
    ordinal: r.ordinal,
    text: r.text,
    tokenCount: r.tokenCount,
    createdAt: r.createdAt,
  };
}

/** Chunk texts of knowledge documents; Qdrant holds only their vectors, search hydrates texts from here. */
@injectable()
@accessControlled
export class KnowledgeChunkRepository {
  readonly #db: MongoAccess;

  constructor(@inject(MongoConnection) mongo: MongoConnection) {
    this.#db = new MongoAccess(mongo);
  }

  /**
   * Makes the chunks of (documentId, version) exactly `chunks` (ordinal =
   * position): upserts by deterministic id, then removes ordinals beyond the
   * new length. Running it twice, or after a crash half-way, ends in the same
   * state. Other versions are untouched (see deleteVersionsBelow).
   *
   * @throws ValidationError, ConflictError (a chunk id exists in another organization)
   */
  @declareAccess({ requires: 'knowledge:write' })
  async replaceForDocument(
    ctx: TenantContext,
    documentId: string,
    documentVersion: number,
    chunks: readonly KnowledgeChunkInput[],
  ): Promise<{ written: number; removed: number }> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(mongoId, documentId, 'documentId');
    const v = parseInput(version, documentVersion, 'version');
    const list = parseInput(chunksSchema, chunks, 'chunks');
    return this.#db.run(async () => {
      const { KnowledgeChunk } = this.#db.models;
      const createdAt = new Date();
      for (let start = 0; start < list.length; start += WRITE_BATCH) {
        const ops = list.slice(start, start + WRITE_BATCH).map((chunk, i) => {
          const ordinal = start + i;
          const _id = knowledgeChunkId(docId, v, ordinal);
          return {
            replaceOne: {
              filter: { organizationId, _id },
              replacement: { _id, organizationId, documentId: docId, version: v, ordinal, text: chunk.text, tokenCount: chunk.tokenCount, createdAt },
              upsert: true,
            },
          };
        });
        await KnowledgeChunk.bulkWrite(ops, { ordered: false });
      }
      const removed = await this.#deleteOrdinalsFrom(organizationId, docId, v, list.length);
      return { written: list.length, removed };
    });
  }

  /**
   * Removes the chunks of one document version from ordinal `fromOrdinal` on
   * (the tail of a version re-split into fewer chunks); `replaceForDocument`
   * already does this after writing. @returns how many
   */
  @declareAccess({ requires: 'knowledge:write' })
  async deleteOrdinalsFrom(ctx: TenantContext, documentId: string, documentVersion: number, fromOrdinal: number): Promise<number> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(mongoId, documentId, 'documentId');
    const v = parseInput(version, documentVersion, 'version');
    const from = parseInput(z.number().int('must be an integer').min(0), fromOrdinal, 'fromOrdinal');
    return this.#db.run(() => this.#deleteOrdinalsFrom(organizationId, docId, v, from));
  }

  async #deleteOrdinalsFrom(organizationId: string, documentId: string, documentVersion: number, fromOrdinal: number): Promise<number> {
    const filter = { organizationId, documentId, version: documentVersion, ordinal: { $gte: fromOrdinal } };
    return (await this.#db.models.KnowledgeChunk.deleteMany(filter).exec()).deletedCount;
  }

  /**
   * Removes the chunks of `documentId` of every version below `belowVersion`.
   * Versions only grow, so a worker with an outdated idea of the current
   * version removes only obsolete chunks, never those of a newer version
   * another worker is writing. @returns how many
   */
  @declareAccess({ requires: 'knowledge:write' })
  async deleteVersionsBelow(ctx: TenantContext, documentId: string, belowVersion: number): Promise<number> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(mongoId, documentId, 'documentId');
    const below = parseInput(version, belowVersion, 'belowVersion');
    return this.#db.run(
      async () => (await this.#db.models.KnowledgeChunk.deleteMany({ organizationId, documentId: docId, version: { $lt: below } }).exec()).deletedCount,
    );
  }

  /** Removes every chunk of `documentId`. @returns how many */
  @declareAccess({ requires: 'knowledge:write' })
  async deleteByDocument(ctx: TenantContext, documentId: string): Promise<number> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(mongoId, documentId, 'documentId');
    return this.#db.run(async () => (await this.#db.models.KnowledgeChunk.deleteMany({ organizationId, documentId: docId }).exec()).deletedCount);
  }

  /** Chunks stored for a document (one version, or all). */
  @declareAccess({ requires: 'knowledge:read' })
  async countByDocument(ctx: TenantContext, documentId: string, options: { version?: number } = {}): Promise<number> {
    const { organizationId } = requireTenantContext(ctx);
    const docId = parseInput(mongoId, documentId, 'documentId');
    const filter: Record<string, unknown> = { organizationId, documentId: docId };
    if (options.version !== undefined) filter.version = parseInput(version, options.version, 'version');
    return this.#db.run(() => this.#db.models.KnowledgeChunk.countDocuments(filter).exec());
  }

  /**
   * The chunks with these ids, in ONE query, in the order given (search
   * results keep Qdrant's ranking); ids unknown here (or another
   * organization's) are skipped.
   */
  @declareAccess({ requires: 'knowledge:read' })
  async hydrate(ctx: TenantContext, ids: readonly string[]): Promise<KnowledgeChunk[]> {
    const { organizationId } = requireTenantContext(ctx);
    const list = parseInput(z.array(mongoId).max(10_000), ids, 'ids');
    if (list.length === 0) return [];
    const rows = await this.#db.run(() =>
      this.#db.models.KnowledgeChunk.find({ organizationId, _id: { $in: [...new Set(list)] } })
        .lean<KnowledgeChunkDocument[]>()
        .exec(),
    );
    const byId = new Map(rows.map((r) => [r._id, r]));
    return list.flatMap((id) => {
      const row = byId.get(id);
      return row ? [toKnowledgeChunk(row)] : [];
    });
  }

  /** @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async deleteAllForOrganization(scope: AdminScope, organizationId: string): Promise<number> {
    assertAdminScope(scope);
    const org = parseInput(mongoId, organizationId, 'organizationId');
    return this.#db.run(async () => (await this.#db.models.KnowledgeChunk.deleteMany({ organizationId: org }).exec()).deletedCount);
  }
}
