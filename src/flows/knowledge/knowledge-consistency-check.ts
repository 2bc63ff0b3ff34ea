import { inject, injectable } from 'tsyringe';
import { KnowledgeChunkRepository } from '../../mongo/repositories/knowledge-chunk-repository.js';
import { KnowledgeDocumentRepository, type KnowledgeDocument, type KnowledgeDocumentStatus } from '../../mongo/repositories/knowledge-document-repository.js';
import { EmbeddingIndex } from '../../qdrant/repositories/embedding-index.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';

export interface DocumentConsistency {
  readonly documentId: string;
  readonly version: number;
  readonly status: KnowledgeDocumentStatus;
  /** What the document records (set when indexed). */
  readonly chunkCount: number;
  /** Chunks in MongoDB, all versions. */
  readonly mongoChunks: number;
  /** Points in Qdrant, all versions. */
  readonly qdrantPoints: number;
  readonly consistent: boolean;
  readonly problem?: string;
}

export interface ConsistencyReport {
  readonly consistent: boolean;
  readonly documents: readonly DocumentConsistency[];
}

/** Counts what MongoDB and Qdrant hold per knowledge document. `KnowledgeIngestion` is the entry point. */
@injectable()
@accessControlled
export class KnowledgeConsistencyCheck {
  constructor(
    @inject(KnowledgeDocumentRepository) private readonly documents: KnowledgeDocumentRepository,
    @inject(KnowledgeChunkRepository) private readonly chunks: KnowledgeChunkRepository,
    @inject(EmbeddingIndex) private readonly index: EmbeddingIndex,
  ) {}

  /**
   * Compares, per document, the chunks in MongoDB with the points in Qdrant
   * (all versions) and, for indexed documents, with the recorded chunkCount.
   * Two counts per document: meant for operators and tests, not hot paths.
   *
   * @param documentId one document, or every document of the organization
   * @throws NotFoundError for an unknown documentId; TenantAccessError (needs knowledge:read); StoreUnavailableError
   */
  @declareAccess({ requires: 'knowledge:read' })
  async checkConsistency(ctx: TenantContext, documentId?: string): Promise<ConsistencyReport> {
    requireTenantContext(ctx);
    const documents: DocumentConsistency[] = [];
    const check = async (doc: KnowledgeDocument): Promise<DocumentConsistency> => {
      const [mongoChunks, qdrantPoints] = await Promise.all([this.chunks.countByDocument(ctx, doc.id), this.index.countByDocument(ctx, doc.id)]);
      const problem =
        mongoChunks !== qdrantPoints
          ? `${mongoChunks} chunks in MongoDB, ${qdrantPoints} points in Qdrant`
          : doc.status === 'indexed' && mongoChunks !== doc.chunkCount
            ? `indexed with chunkCount ${doc.chunkCount}, but ${mongoChunks} chunks stored`
            : undefined;
      return {
        documentId: doc.id,
        version: doc.version,
        status: doc.status,
        chunkCount: doc.chunkCount,
        mongoChunks,
        qdrantPoints,
        consistent: problem === undefined,
        ...(problem ? { problem } : {}),
      };
    };
    if (documentId !== undefined) {
      documents.push(await check(await this.documents.get(ctx, documentId)));
    } else {
      let after: string | undefined;
      do {
        const page = await this.documents.list(ctx, { limit: 100, ...(after ? { cursor: after } : {}) });
        documents.push(...(await Promise.all(page.items.map(check))));
        after = page.nextCursor;
      } while (after);
    }
    return { consistent: documents.every((d) => d.consistent), documents };
  }
}
