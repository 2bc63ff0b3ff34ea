import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LangchainTextSplitter } from '../../../src/flows/knowledge/langchain-text-splitter.js';

const words = (n: number, prefix = 'w') => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(' ');
const chars = (t: string) => t.length;

describe('LangchainTextSplitter', () => {
  it('keeps short text whole and drops blank input', async () => {
    const splitter = new LangchainTextSplitter({ chunkSize: 100, chunkOverlap: 10 });
    expect(await splitter.split('  A short note.  ')).toEqual(['A short note.']);
    expect(await splitter.split(' \n\n ')).toEqual([]);
  });

  it('splits on paragraphs first and never exceeds chunkSize', async () => {
    const text = [words(20, 'a'), words(20, 'b'), words(20, 'c')].join('\n\n');
    const chunks = await new LangchainTextSplitter({ chunkSize: 120, chunkOverlap: 0, lengthFunction: chars }).split(text);
    expect(chunks.every((c) => c.length <= 120)).toBe(true);
    expect(chunks[0]!.startsWith('a0')).toBe(true);
    expect(chunks.some((c) => c.includes('a19') && c.includes('b1'))).toBe(false);
  });

  it('covers every word, in order, with overlap between neighbours', async () => {
    const chunks = await new LangchainTextSplitter({ chunkSize: 200, chunkOverlap: 40, lengthFunction: chars }).split(words(400));
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.every((c) => c.length <= 200)).toBe(true);
    const seen = new Set(chunks.flatMap((c) => c.split(' ')));
    for (let i = 0; i < 400; i++) expect(seen.has(`w${i}`)).toBe(true);
    for (let i = 1; i < chunks.length; i++) {
      const firstWord = chunks[i]!.split(' ')[0]!;
      expect(chunks[i - 1]!.split(' '), `chunk ${i} starts inside chunk ${i - 1}`).toContain(firstWord);
    }
  });

  it('measures in estimated tokens by default (about 4 characters each) and ends chunks at sentence boundaries', async () => {
    const text = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} is here.`).join(' ');
    const chunks = await new LangchainTextSplitter({ chunkSize: 50, chunkOverlap: 10 }).split(text);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.every((c) => c.length <= 50 * 4)).toBe(true);
    expect(chunks.some((c) => c.length > 150)).toBe(true);
    for (const c of chunks) expect(c).toMatch(/^Sentence number \d+ is here\..*\.$/);
  });

  it('splits the demo documents into chunks that keep their text', async () => {
    const text = readFileSync(new URL('../../../docs/demo-knowledge/refund-policy.md', import.meta.url), 'utf8');
    const chunks = await new LangchainTextSplitter({ chunkSize: 40, chunkOverlap: 8 }).split(text);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks[0]).toMatch(/^# Refund policy/);
    expect(chunks.some((c) => c.includes('within thirty days'))).toBe(true);
  });

  it('cuts a word longer than chunkSize by characters and rejects an overlap as large as the chunk', async () => {
    const chunks = await new LangchainTextSplitter({ chunkSize: 10, chunkOverlap: 0, lengthFunction: chars }).split('x'.repeat(35));
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 10, 5]);
    expect(() => new LangchainTextSplitter({ chunkSize: 10, chunkOverlap: 10 })).toThrow(RangeError);
  });
});
