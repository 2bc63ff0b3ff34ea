import { createHash } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import { deterministicUuid } from '../../deterministic-uuid.js';
import { parseInput } from '../../parse-input.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { keysetPageInput, toKeysetPage, type KeysetPage, type KeysetPageInput } from '../../keyset-page.js';
import { decodeMongoCursor, encodeMongoCursor, mongoId, pageLimit } from './mongo-inputs.js';
import { MongoConnection } from '../mongo-connection.js';
import { MongoAccess } from './mongo-access.js';
import { KNOWLEDGE_DOCUMENT_STATUSES, type KnowledgeDocumentDocument } from '../mongo-models.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export type KnowledgeDocumentStatus = (typeof KNOWLEDGE_DOCUMENT_STATUSES)[number];

export interface KnowledgeDocument {
  readonly id: string;
  readonly organizationId: string;
  readonly source: string;
  readonly title: string;
  readonly contentHash: string;
  /** 1 for the first content, +1 each time the content hash changes. */
  readonly version: number;
  readonly status: KnowledgeDocumentStatus;
  readonly error: string | null;
  readonly chunkCount: number;
  /** Omitted (null) by `list`; present from `get` when stored inline. */
  readonly content: string | null;
  readonly contentRef: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A page of {@link KeysetPageInput} (`limit` 1–500, default 50), optionally of one status. */
export interface ListKnowledgeDocumentsOptions extends KeysetPageInput {
  readonly status?: KnowledgeDocumentStatus;
}

export interface UpsertKnowledgeDocumentInput {
  /** Default: derived from organization + source, so importing the same source twice hits the same document. */
  readonly id?: string;
  /** Where it came from (path, URL); unique per organization when `id` is derived. */
  readonly source: string;
  readonly title: string;
  /** The text, stored inline; or give `contentRef` + `contentHash` for content kept elsewhere. */
  readonly content?: string;
  readonly contentRef?: string;
  /** Default: SHA-256 of `content`. */
  readonly contentHash?: string;
}

export interface UpsertKnowledgeDocumentResult {
  readonly document: KnowledgeDocument;
  /** True when this call created the document. */
  readonly created: boolean;
  /** True when the content changed (a new version, status back to pending). */
  readonly changed: boolean;
}

export interface SetKnowledgeStatusOptions {
  /** Only change the status if the document is still at this version (a worker of an older version cannot overwrite a newer one). */
  readonly version?: number;
  readonly error?: string;
  readonly chunkCount?: number;
}

const upsertSchema = z
  .object({
    id: mongoId.optional(),
    source: z.string().trim().min(1, 'must not be empty').max(2000),
    title: z.string().trim().max(1000),
    // Leaves room below MongoDB's 16 MB document limit; larger texts go by contentRef.
    content: z.string().max(8_000_000, 'is larger than 8,000,000 characters; store it elsewhere and pass contentRef').optional(),
    contentRef: z.string().min(1).max(2000).optional(),
    contentHash: z.string().min(8).max(200).optional(),
  })
  .strict()
  .superRefine((v, issue) => {
    if (v.content === undefined && v.contentRef === undefined)
      issue.addIssue({ code: 'custom', path: ['content'], message: 'content or contentRef is required' });
    if (v.content === undefined && v.contentHash === undefined)
      issue.addIssue({ code: 'custom', path: ['contentHash'], message: 'required when content is not given' });
  });
const statusSchema = z.enum(KNOWLEDGE_DOCUMENT_STATUSES);
const statusOptionsSchema = z
  .object({ version: z.number().int().min(1).optional(), error: z.string().max(4000).optional(), chunkCount: z.number().int().min(0).optional() })
  .strict();
const listSchema = keysetPageInput(500, 50).extend({ status: statusSchema.optional() }).strict();
/** Keyset position: the _id of the last document of a page. */
const position = z.tuple([z.string()]);
const stuckSchema = z.object({ olderThan: z.date(), limit: pageLimit(1000, 100) }).strict();

/** The id `upsert` derives when none is given: stable per (organization, source). */
export function knowledgeDocumentId(organizationId: string, source: string): string {
  return deterministicUuid(`knowledge-document:${organizationId}:${source}`);
}

export function toKnowledgeDocument(r: KnowledgeDocumentDocument): KnowledgeDocument {
  return {
    id: r._id,
    organizationId: r.organizationId,
    source: r.source,
    title: r.title,
    contentHash: r.contentHash,
    version: r.version,
    status: r.status,
    error: r.error ?? null,
    chunkCount: r.chunkCount,
    content: r.content ?? null,
    contentRef: r.contentRef ?? null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

// Optimistic retries of upsert when another writer changed the same document in between.
const UPSERT_ATTEMPTS = 5;

/** Knowledge documents: the durable record the ingestion pipeline and its reconciler work from. */
@injectable()
@accessControlled
export class KnowledgeDocumentRepository {
  readonly #db: MongoAccess;

  constructor(@inject(MongoConnection) mongo: MongoConnection) {
    this.#db = new MongoAccess(mongo);
  }

  /**
   * Creates the document (version 1, pending) or, when the content hash
   * differs, moves it to the next version and back to pending. Same hash:
   * nothing changes (`changed: false`), so re-importing is free. Concurrent
   * upserts are settled by a version guard on the update, not a transaction.
   *
   * @throws ValidationError, ConflictError (the id belongs to another organization, or the document kept changing)
   */
  @declareAccess({ requires: 'knowledge:write' })
  async upsert(ctx: TenantContext, input: UpsertKnowledgeDocumentInput): Promise<UpsertKnowledgeDocumentResult> {
    const { organizationId } = requireTenantContext(ctx);
    const data = parseInput(upsertSchema, input);
    const id = data.id ?? knowledgeDocumentId(organizationId, data.source);
    const contentHash =
      data.contentHash ??
      createHash('sha256')
        .update(data.content ?? '', 'utf8')
        .digest('hex');
    const fields = { source: data.source, title: data.title, contentHash, content: data.content ?? null, contentRef: data.contentRef ?? null };
    return this.#db.run(async () => {
      const { KnowledgeDocument } = this.#db.models;
      for (let attempt = 0; attempt < UPSERT_ATTEMPTS; attempt++) {
        const current = await KnowledgeDocument.findOne({ organizationId, _id: id }).lean<KnowledgeDocumentDocument>().exec();
        if (!current) {
          try {
            const doc = await KnowledgeDocument.create({ _id: id, organizationId, ...fields, version: 1, status: 'pending', error: null, chunkCount: 0 });
            return { document: toKnowledgeDocument(doc.toObject()), created: true, changed: true };
          } catch (error) {
            // Another writer created it first (or the id is taken in another organization): look again.
            if ((error as { code?: unknown }).code === 11000) continue;
            throw error;
          }
        }
        if (current.contentHash === contentHash) {
          if (current.title === fields.title && current.source === fields.source) {
            return { document: toKnowledgeDocument(current), created: false, changed: false };
          }
          const renamed = await KnowledgeDocument.findOneAndUpdate(
            { organizationId, _id: id, version: current.version },
            { $set: { title: fields.title, source: fields.source } },
            { returnDocument: 'after' },
          )
            .lean<KnowledgeDocumentDocument>()
            .exec();
          if (renamed) return { document: toKnowledgeDocument(renamed), created: false, changed: false };
          continue;
        }
        const next = await KnowledgeDocument.findOneAndUpdate(
          { organizationId, _id: id, version: current.version },
          { $set: { ...fields, status: 'pending', error: null, chunkCount: 0 }, $inc: { version: 1 } },
          { returnDocument: 'after' },
        )
          .lean<KnowledgeDocumentDocument>()
          .exec();
        if (next) return { document: toKnowledgeDocument(next), created: false, changed: true };
      }
      throw new ConflictError(
        `Knowledge document ${id} could not be upserted (id used by another organization, or changed concurrently ${UPSERT_ATTEMPTS} times)`,
        {
          store: 'mongo',
        },
      );
    });
  }

  /**
   * Moves a document to `status`. `failed` records `error`; other statuses
   * clear it; `indexed` records `chunkCount`.
   *
   * @returns false when the document does not exist here or is no longer at `options.version`
   * @throws ValidationError
   */
  @declareAccess({ requires: 'knowledge:write' })
  async setStatus(ctx: TenantContext, id: string, status: KnowledgeDocumentStatus, options: SetKnowledgeStatusOptions = {}): Promise<boolean> {
    const { organizationId } = requireTenantContext(ctx);
    const documentId = parseInput(mongoId, id, 'id');
    const s = parseInput(statusSchema, status, 'status');
    const o = parseInput(statusOptionsSchema, options);
    if (s === 'failed' && !o.error) throw new ValidationError([{ path: 'error', message: 'is required when status is failed' }]);
    const set: Partial<KnowledgeDocumentDocument> = { status: s, error: s === 'failed' ? (o.error ?? null) : null };
    if (o.chunkCount !== undefined) set.chunkCount = o.chunkCount;
    const filter: Record<string, unknown> = { organizationId, _id: documentId };
    if (o.version !== undefined) filter.version = o.version;
    return this.#db.run(async () => (await this.#db.models.KnowledgeDocument.updateOne(filter, { $set: set }).exec()).matchedCount === 1);
  }

  /** @throws NotFoundError (also for another organization's id) */
  @declareAccess({ requires: 'knowledge:read' })
  async get(ctx: TenantContext, id: string): Promise<KnowledgeDocument> {
    const { organizationId } = requireTenantContext(ctx);
    const documentId = parseInput(mongoId, id, 'id');
    const found = await this.#db.run(() =>
      this.#db.models.KnowledgeDocument.findOne({ organizationId, _id: documentId }).lean<KnowledgeDocumentDocument>().exec(),
    );
    if (!found) throw new NotFoundError('knowledge document', documentId);
    return toKnowledgeDocument(found);
  }

  /** Several documents in one query (titles for search results); unknown ids are skipped. */
  @declareAccess({ requires: 'knowledge:read' })
  async getMany(ctx: TenantContext, ids: readonly string[]): Promise<KnowledgeDocument[]> {
    const { organizationId } = requireTenantContext(ctx);
    const list = parseInput(z.array(mongoId).max(10_000), ids, 'ids');
    if (list.length === 0) return [];
    const rows = await this.#db.run(() =>
      this.#db.models.KnowledgeDocument.find({ organizationId, _id: { $in: list } }, { content: 0 })
        .lean<KnowledgeDocumentDocument[]>()
        .exec(),
    );
    return rows.map(toKnowledgeDocument);
  }

  /** Ordered by id, keyset-paginated (`limit` 1–500, default 50); content is not loaded. @throws ValidationError */
  @declareAccess({ requires: 'knowledge:read' })
  async list(ctx: TenantContext, options: ListKnowledgeDocumentsOptions = {}): Promise<KeysetPage<KnowledgeDocument>> {
    const { organizationId } = requireTenantContext(ctx);
    const o = parseInput(listSchema, options);
    const filter: Record<string, unknown> = { organizationId };
    if (o.status) filter.status = o.status;
    if (o.cursor !== undefined) filter._id = { $gt: decodeMongoCursor(o.cursor, position)[0] };
    const rows = await this.#db.run(() =>
      this.#db.models.KnowledgeDocument.find(filter, { content: 0 })
        .sort({ _id: 1 })
        .limit(o.limit + 1)
        .lean<KnowledgeDocumentDocument[]>()
        .exec(),
    );
    return toKeysetPage(rows, o.limit, toKnowledgeDocument, (last) => encodeMongoCursor([last._id]));
  }

  /**
   * Documents left in pending or indexing since before `olderThan` (a lost
   * job, a crashed worker), oldest first, for the reconciler to re-enqueue.
   * Per organization: the reconciler walks organizations from PostgreSQL.
   */
  @declareAccess({ requires: 'knowledge:read' })
  async findStuck(ctx: TenantContext, options: { olderThan: Date; limit?: number }): Promise<KnowledgeDocument[]> {
    const { organizationId } = requireTenantContext(ctx);
    const o = parseInput(stuckSchema, options);
    const rows = await this.#db.run(() =>
      this.#db.models.KnowledgeDocument.find({ organizationId, status: { $in: ['pending', 'indexing'] }, updatedAt: { $lt: o.olderThan } }, { content: 0 })
        .sort({ updatedAt: 1 })
        .limit(o.limit)
        .lean<KnowledgeDocumentDocument[]>()
        .exec(),
    );
    return rows.map(toKnowledgeDocument);
  }

  /** @returns false when there was no such document here. Chunks and points are the caller's (a flow's) to remove. */
  @declareAccess({ requires: 'knowledge:write' })
  async delete(ctx: TenantContext, id: string): Promise<boolean> {
    const { organizationId } = requireTenantContext(ctx);
    const documentId = parseInput(mongoId, id, 'id');
    return this.#db.run(async () => (await this.#db.models.KnowledgeDocument.deleteOne({ organizationId, _id: documentId }).exec()).deletedCount === 1);
  }

  /** @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async deleteAllForOrganization(scope: AdminScope, organizationId: string): Promise<number> {
    assertAdminScope(scope);
    const org = parseInput(mongoId, organizationId, 'organizationId');
    return this.#db.run(async () => (await this.#db.models.KnowledgeDocument.deleteMany({ organizationId: org }).exec()).deletedCount);
  }
}
