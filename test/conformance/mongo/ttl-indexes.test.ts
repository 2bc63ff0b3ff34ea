import mongoose, { Schema } from 'mongoose';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';

/**
 * TTL indexes really delete documents. mongod's TTL monitor runs every 60 s,
 * so against a real server these tests wait up to ~2 minutes; the stand-in
 * sweeps every second.
 */

const { MongoClient } = mongoose.mongo;
type Db = mongoose.mongo.Db;

const TTL_TIMEOUT_MS = 150_000;

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('TTL indexes', () => {
  test('delete documents whose date is past, and only those', { timeout: TTL_TIMEOUT_MS }, async ({ mongoDatabase: { db } }) => {
    const sessions = db.collection('sessions');
    await sessions.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
    const now = Date.now();
    await sessions.insertMany([
      { name: 'expired', expiresAt: new Date(now - 60_000) },
      { name: 'expired-array', expiresAt: [new Date(now + 3_600_000), new Date(now - 60_000)] },
      { name: 'future', expiresAt: new Date(now + 3_600_000) },
      { name: 'not-a-date', expiresAt: 'tomorrow' },
      { name: 'missing' },
    ]);
    await waitFor(async () => (await sessions.countDocuments({ name: /^expired/ })) === 0, TTL_TIMEOUT_MS - 10_000);
    const left = (await sessions.find({}, { sort: { name: 1 } }).toArray()).map((d) => d.name as string);
    expect(left).toEqual(['future', 'missing', 'not-a-date']);
  });

  test('expireAfterSeconds counts from the indexed date (mongoose `expires`)', { timeout: TTL_TIMEOUT_MS }, async ({ mongoDatabase: { target, dbName } }) => {
    const conn = await mongoose.createConnection(target.uri, { dbName }).asPromise();
    try {
      const Token = conn.model('Token', new Schema({ value: String, createdAt: { type: Date, default: Date.now, expires: 1 } }));
      await Token.init();
      const index = (await Token.listIndexes()).find((i) => i.name === 'createdAt_1');
      expect(index).toMatchObject({ key: { createdAt: 1 }, expireAfterSeconds: 1 });
      await Token.create({ value: 'short-lived' });
      await Token.create({ value: 'long-lived', createdAt: new Date(Date.now() + 3_600_000) });
      expect(await Token.countDocuments()).toBe(2);
      await waitFor(async () => (await Token.countDocuments({ value: 'short-lived' })) === 0, TTL_TIMEOUT_MS - 10_000);
      expect(await Token.countDocuments({ value: 'long-lived' })).toBe(1);
    } finally {
      await conn.close();
    }
  });

  test('a partial TTL index only expires matching documents', { timeout: TTL_TIMEOUT_MS }, async ({ mongoDatabase: { db } }) => {
    const events = db.collection('events');
    await events.createIndex({ at: 1 }, { expireAfterSeconds: 0, partialFilterExpression: { kind: 'temp' } });
    const past = new Date(Date.now() - 60_000);
    await events.insertMany([
      { kind: 'temp', at: past },
      { kind: 'keep', at: past },
    ]);
    await waitFor(async () => (await events.countDocuments({ kind: 'temp' })) === 0, TTL_TIMEOUT_MS - 10_000);
    expect(await events.countDocuments({ kind: 'keep' })).toBe(1);
  });
});
