import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { expect, inject } from 'vitest';
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
export async function mongoTarget(options: { replicaSet?: boolean } = {}): Promise<MongoTarget> {
  const stack = inject('stack');
  const real = stack.backends.mongo === 'stand-in' ? undefined : stack.urls.mongo;
  if (real) return { uri: real, backend: 'real', stop: async () => undefined };
  // docker-compose's and testcontainers' MongoDB are replica sets; the stand-in is one only when asked.
  const standIn = await MongoStandIn.start({ port: 0, ...(options.replicaSet ? { replicaSet: 'rs0' } : {}) });
  return { uri: standIn.uri, backend: 'stand-in', stop: () => standIn.stop() };
}

/** A database name unique to one test file, so files can run in parallel against one server. */
export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** A connected client and a fresh database for one test file (the `mongoDatabase` fixture drops it at the end). */
export interface MongoDatabaseFixture {
  readonly target: MongoTarget;
  readonly client: InstanceType<typeof mongoose.mongo.MongoClient>;
  readonly db: mongoose.mongo.Db;
  readonly dbName: string;
}

/**
 * For a feature the stand-in refuses on purpose: against a real server, run
 * `realAnswer` (the real server's answer); against the stand-in, assert the
 * refusal (a command error with `code` whose message says "not supported by
 * the MongoDB stand-in"). Either way the test checks something that can fail.
 */
export async function realAnswerOrRefusal(
  target: MongoTarget,
  call: () => Promise<unknown>,
  realAnswer: (result: unknown) => void | Promise<void>,
  refusalCode = 115,
): Promise<void> {
  if (target.backend === 'real') {
    await realAnswer(await call());
    return;
  }
  const error: unknown = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(mongoose.mongo.MongoServerError);
  expect(error).toMatchObject({ code: refusalCode, message: expect.stringContaining('not supported by the MongoDB stand-in') as unknown });
}
