import { deterministicUuid } from '../deterministic-uuid.js';

/**
 * The Qdrant point id of chunk `ordinal` of `documentId` at `version`: a
 * name-based (v5) UUID, so a retried upsert overwrites the same point instead
 * of adding one. The organization is part of the name as well: document ids
 * may come from callers, and two organizations using the same document id
 * must never overwrite each other's points (Qdrant upserts are unconditional).
 */
export function knowledgePointId(organizationId: string, documentId: string, version: number, ordinal: number): string {
  return deterministicUuid(`knowledge-chunk:${organizationId}:${documentId}:${version}:${ordinal}`);
}
