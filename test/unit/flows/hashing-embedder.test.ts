import { describe, expect, it } from 'vitest';
import { HashingEmbedder } from '../../../src/flows/knowledge/hashing-embedder.js';

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

const PASSAGES = [
  'Refunds are issued within 14 days for annual plans cancelled in the first month.',
  'Two-factor authentication can be enabled from the security settings page.',
  'The API rate limit is 600 requests per minute per API key.',
  'Invoices are emailed to the billing contact at the start of each period.',
  'Conversations are archived automatically after ninety days without messages.',
];

describe('HashingEmbedder', () => {
  const embedder = new HashingEmbedder();

  it('is deterministic, L2-normalised and of the configured dimension', async () => {
    const [a, b] = await embedder.embed(['Hello, World', 'hello world']);
    expect(a).toHaveLength(256);
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(cosine(a!, a!)).toBeCloseTo(1, 5);
    expect(new HashingEmbedder({ dimension: 64 }).embedOne('x')).toHaveLength(64);
    expect(Array.from(new HashingEmbedder().embedOne('...'))).toEqual([1, ...new Array<number>(255).fill(0)]);
    expect(() => new HashingEmbedder({ dimension: 4 })).toThrow(RangeError);
  });

  it('ranks the passage that shares words with the query first', async () => {
    const vectors = await embedder.embed(PASSAGES);
    const queries: [string, number][] = [
      ['how do refunds work for annual plans', 0],
      ['enable two-factor authentication', 1],
      ['what is the rate limit per API key', 2],
      ['who receives invoices', 3],
      ['when are conversations archived', 4],
    ];
    for (const [query, expected] of queries) {
      const q = embedder.embedOne(query);
      const scores = vectors.map((v) => cosine(q, v));
      expect(scores.indexOf(Math.max(...scores)), query).toBe(expected);
    }
  });

  it('gives word fragments partial credit through trigrams', () => {
    const q = embedder.embedOne('authenticate');
    expect(cosine(q, embedder.embedOne('authentication'))).toBeGreaterThan(cosine(q, embedder.embedOne('invoice')) + 0.2);
  });
});
