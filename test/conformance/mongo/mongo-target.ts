import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { MongoStandIn } from '../../../src/testing/mongo-stand-in.js';

export interface MongoTarget {
  /** Connection string without a database path. */
  readonly uri: string;
  /** `real` when MONGODB_URI points at a real server, `stand-in` otherwise. */
  readonly backend: 'real' | 'stand-in';
  /** Stops the stand-in (no-op for a real server). */
  stop(): Promise<void>;
}

/**
 * The one place the conformance suite decides which MongoDB it runs against:
 * the real server the local stack found (`MONGODB_URI`, testcontainers or a
 * local mongod), otherwise a fresh stand-in on a free port for this file.
 */
export async function mongoTarget(): Promise<MongoTarget> {
  const stack = inject('stack');
  const real = stack.backends.mongo === 'stand-in' ? undefined : stack.urls.mongo;
  if (real) return { uri: real, backend: 'real', stop: async () => undefined };
  const standIn = await MongoStandIn.start({ port: 0 });
  return { uri: standIn.uri, backend: 'stand-in', stop: () => standIn.stop() };
}

/** A database name unique to one test file, so files can run in parallel against one server. */
export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}
