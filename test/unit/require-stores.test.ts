import { describe, expect, it } from 'vitest';
import { storeVerdict } from '../support/require-stores.js';

const urls = { postgres: 'postgres://x', redis: 'redis://x', mongo: undefined, qdrant: undefined };

// Issue 14: with a store missing, CI must fail naming it, never stay green with fewer tests.
describe('requireStores', () => {
  it('runs when every needed store is there', () => {
    expect(storeVerdict(urls, ['postgres', 'redis'], 'a.test.ts', true)).toEqual({ action: 'run' });
  });

  it('fails in CI, naming each missing store', () => {
    const verdict = storeVerdict(urls, ['postgres', 'mongo', 'qdrant'], 'a.test.ts', true);
    expect(verdict.action).toBe('fail');
    expect(verdict).toMatchObject({ message: expect.stringContaining('needs mongo, qdrant') });
  });

  it('skips outside CI with a line saying what and why', () => {
    const verdict = storeVerdict(urls, ['mongo'], 'a.test.ts', false);
    expect(verdict).toEqual({ action: 'skip', message: expect.stringMatching(/^\[skip\] a\.test\.ts: skipped, needs mongo/) });
  });
});
