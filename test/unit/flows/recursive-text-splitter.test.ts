import { describe, expect, it } from 'vitest';
import { RecursiveTextSplitter } from '../../../src/flows/recursive-text-splitter.js';

const words = (n: number, prefix = 'w') => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(' ');

describe('RecursiveTextSplitter', () => {
  it('keeps short text whole and drops blank input', async () => {
    const splitter = new RecursiveTextSplitter({ chunkSize: 100, chunkOverlap: 10 });
    expect(await splitter.split('  A short note.  ')).toEqual(['A short note.']);
    expect(await splitter.split(' \n\n ')).toEqual([]);
  });

  it('splits on paragraphs first and never exceeds chunkSize', async () => {
    const text = [words(20, 'a'), words(20, 'b'), words(20, 'c')].join('\n\n');
    const chunks = await new RecursiveTextSplitter({ chunkSize: 120, chunkOverlap: 0 }).split(text);
    expect(chunks.every((c) => c.length <= 120)).toBe(true);
    expect(chunks[0]!.startsWith('a0')).toBe(true);
    expect(chunks.some((c) => c.includes('a') && c.includes('b1'))).toBe(false);
  });

  it('covers every word, in order, with overlap between neighbours', async () => {
    const text = words(400);
    const chunks = await new RecursiveTextSplitter({ chunkSize: 200, chunkOverlap: 40 }).split(text);
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.every((c) => c.length <= 200)).toBe(true);
    const seen = new Set(chunks.flatMap((c) => c.split(' ')));
    for (let i = 0; i < 400; i++) expect(seen.has(`w${i}`)).toBe(true);
    for (let i = 1; i < chunks.length; i++) {
      const firstWord = chunks[i]!.split(' ')[0]!;
      expect(chunks[i - 1]!.split(' '), `chunk ${i} starts inside chunk ${i - 1}`).toContain(firstWord);
    }
  });

  it('cuts a word longer than chunkSize by characters', async () => {
    const chunks = await new RecursiveTextSplitter({ chunkSize: 10, chunkOverlap: 0 }).split('x'.repeat(35));
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 10, 5]);
    expect(() => new RecursiveTextSplitter({ chunkSize: 10, chunkOverlap: 10 })).toThrow(RangeError);
  });
});
