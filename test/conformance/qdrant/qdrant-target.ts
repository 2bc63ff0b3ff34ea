import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { QdrantStandIn } from '../../../src/testing/qdrant-stand-in.js';

/** The Qdrant server a conformance file runs against. */
export interface QdrantTarget {
  readonly url: string;
  readonly apiKey?: string;
  readonly backend: 'real' | 'stand-in';
  stop(): Promise<void>;
}

/**
 * The one place that decides where the conformance suite runs: the real Qdrant
 * the local stack found (from `QDRANT_URL`, testcontainers or a local server;
 * `QDRANT_API_KEY` if it needs one), else a fresh stand-in on a free port for
 * this file.
 *
 * With `withApiKey`, a stand-in is started requiring a generated key; a real
 * server keeps `QDRANT_API_KEY`, which may be undefined (the caller skips then).
 */
export async function qdrantTarget(options: { withApiKey?: boolean } = {}): Promise<QdrantTarget> {
  const stack = inject('stack');
  const url = stack.backends.qdrant === 'stand-in' ? undefined : stack.urls.qdrant;
  if (url !== undefined && url !== '') {
    const apiKey = process.env['QDRANT_API_KEY'];
    return { url, ...(apiKey ? { apiKey } : {}), backend: 'real', stop: async () => undefined };
  }
  const apiKey = options.withApiKey ? randomBytes(12).toString('hex') : undefined;
  const standIn = await QdrantStandIn.start({ port: 0, ...(apiKey ? { apiKey } : {}) });
  return { url: standIn.url, ...(apiKey ? { apiKey } : {}), backend: 'stand-in', stop: () => standIn.stop() };
}
