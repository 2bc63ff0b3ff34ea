import type { Schemas } from '@qdrant/js-client-rest';

/** A payload index as `createPayloadIndex` takes it. */
export interface QdrantPayloadIndexSpec {
  readonly field: string;
  readonly schema: Schemas['PayloadSchemaParams'];
}

/** A Qdrant collection as this package needs it. */
export interface QdrantCollectionSpec {
  readonly name: string;
  readonly vectorSize: number;
  readonly distance: 'Cosine';
  readonly payloadIndexes: readonly QdrantPayloadIndexSpec[];
}

export const KNOWLEDGE_COLLECTION_SUFFIX = 'knowledge_chunks';

/** `${collectionPrefix}knowledge_chunks` — the prefix separates environments and test files. */
export function knowledgeCollectionName(prefix: string): string {
  return `${prefix}${KNOWLEDGE_COLLECTION_SUFFIX}`;
}

/**
 * The knowledge-chunk collection: one point per chunk, vector size = the
 * embedder's dimension, Cosine distance. The payload holds only
 * organizationId, documentId, version and ordinal — no chunk text: texts are
 * hydrated from MongoDB (the durable copy), so erasure and re-chunking have
 * one place to change and Qdrant stays small.
 *
 * `organizationId` is a tenant index (`is_tenant: true`): Qdrant co-locates
 * each tenant's points and every search filters on it. `version` is an
 * integer index (match and range) because the pipeline's cleanup deletes by
 * `version < n`: with it the planner can estimate and serve that condition
 * from the index, and a server in strict mode (`unindexed_filtering_update:
 * false`) accepts the delete at all.
 */
export function knowledgeCollection(prefix: string, dimension: number): QdrantCollectionSpec {
  return {
    name: knowledgeCollectionName(prefix),
    vectorSize: dimension,
    distance: 'Cosine',
    payloadIndexes: [
      { field: 'organizationId', schema: { type: 'keyword', is_tenant: true } },
      { field: 'documentId', schema: { type: 'keyword' } },
      { field: 'version', schema: { type: 'integer', lookup: true, range: true } },
    ],
  };
}
