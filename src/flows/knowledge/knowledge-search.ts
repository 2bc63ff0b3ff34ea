import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { PlatformError } from '../../errors.js';
import { KnowledgeChunkRepository, knowledgeChunkId } from '../../mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository } from '../../mongo/repositories/knowledge-document-repository.js';
import { parseInput } from '../../parse-input.js';
import { EmbeddingIndex } from '../../qdrant/repositories/embedding-index.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { EMBEDDER } from '../../tokens.js';
import type { Embedder } from '../../embedder.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

export interface SemanticSearchOptions {
  /** 1–100, default 5. */
  readonly limit?: number;
  /** Only these documents (still within the caller's organization). */
  readonly documentIds?: readonly string[];
  /** Drop hits scoring below this (Cosine: -1 … 1). */
  readonly scoreThreshold?: number;
}

export interface SemanticSearchHit {
  readonly documentId: string;
  readonly title: string;
  readonly chunkOrdinal: number;
  readonly text: string;
  /** Qdrant's score (Cosine similarity); hits come best first. */
  readonly score: number;
}

const querySchema = z.string().trim().min(1, 'must not be empty').max(10_000);
const optionsSchema = z
  .object({
    limit: z.number().int().min(1).max(100).default(5),
    documentIds: z.array(z.string().trim().min(1).max(200)).min(1).max(10_000).optional(),
    scoreThreshold: z.number().min(-1).max(1).optional(),
  })
  .strict();

/**
 * Semantic search over the caller's organization's knowledge: embed the
 * query, ask Qdrant (always with the organization filter), then hydrate chunk
 * texts and document titles from MongoDB — one query per collection, whatever
 * the number of hits — keeping Qdrant's order and scores.
 */
@injectable()
@accessControlled
export class KnowledgeSearch {
  constructor(
    @inject(EmbeddingIndex) private readonly index: EmbeddingIndex,
    @inject(KnowledgeChunkRepository) private readonly chunks: KnowledgeChunkRepository,
    @inject(KnowledgeDocumentRepository) private readonly documents: KnowledgeDocumentRepository,
    @inject(EMBEDDER) private readonly embedder: Embedder,
  ) {}

  /**
   * A hit whose chunk is not (or no longer) in MongoDB — a version being
   * replaced right now — is left out rather than returned without text.
   *
   * @example
   * const hits = await search.semanticSearch(ctx, 'how long do refunds take?', { limit: 3 });
   * @throws ValidationError (empty query, bad options), TenantAccessError (needs knowledge:read), NotFoundError (collection not provisioned), StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:read' })
  async semanticSearch(ctx: TenantContext, query: string, options: SemanticSearchOptions = {}): Promise<SemanticSearchHit[]> {
    requireTenantContext(ctx);
    const text = parseInput(querySchema, query, 'query');
    const o = parseInput(optionsSchema, options);
    const [vector] = await this.embedder.embed([text]);
    if (!vector || vector.length !== this.embedder.dimension)
      throw new PlatformError('EMBEDDER_MISMATCH', `embedder returned no vector of dimension ${this.embedder.dimension} for the query`);
    const hits = await this.index.search(ctx, vector, {
      limit: o.limit,
      ...(o.documentIds ? { documentIds: o.documentIds } : {}),
      ...(o.scoreThreshold === undefined ? {} : { scoreThreshold: o.scoreThreshold }),
    });
    if (hits.length === 0) return [];
    const [chunks, documents] = await Promise.all([
      this.chunks.hydrate(
        ctx,
        hits.map((h) => knowledgeChunkId(h.documentId, h.version, h.ordinal)),
      ),
      this.documents.getMany(ctx, [...new Set(hits.map((h) => h.documentId))]),
    ]);
    const chunkById = new Map(chunks.map((c) => [c.id, c]));
    const titleById = new Map(documents.map((d) => [d.id, d.title]));
    return hits.flatMap((h) => {
      const chunk = chunkById.get(knowledgeChunkId(h.documentId, h.version, h.ordinal));
      const title = titleById.get(h.documentId);
      if (!chunk || title === undefined) return [];
      return [{ documentId: h.documentId, title, chunkOrdinal: h.ordinal, text: chunk.text, score: h.score }];
    });
  }
}
