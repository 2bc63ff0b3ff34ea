import { describe, expect, it } from 'vitest';
import { deterministicUuid } from '../../src/deterministic-uuid.js';
import { knowledgePointId } from '../../src/qdrant/knowledge-point-id.js';

describe('deterministicUuid', () => {
  it('is RFC 9562 version 5 (checked against Python uuid.uuid5)', () => {
    expect(deterministicUuid('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(knowledgePointId('o', 'd', 1, 0)).toBe('849f30ee-89da-5949-b173-c9de9ba6176f');
  });

  it('differs by every component of a point id', () => {
    const ids = new Set([
      knowledgePointId('o', 'd', 1, 0),
      knowledgePointId('o', 'd', 1, 1),
      knowledgePointId('o', 'd', 2, 0),
      knowledgePointId('o', 'e', 1, 0),
      knowledgePointId('p', 'd', 1, 0),
    ]);
    expect(ids.size).toBe(5);
  });
});
