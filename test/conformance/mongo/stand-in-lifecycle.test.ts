import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStandIn } from '../../../src/testing/mongo-stand-in.js';

/**
 * The stand-in's own lifecycle (start/stop/snapshot). Not a conformance case:
 * it always runs against a private stand-in, whatever MONGODB_URI says.
 */

const { MongoClient, Long, ObjectId } = mongoose.mongo;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mongo-stand-in-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('MongoStandIn', () => {
  it('listens on a free port, stops idempotently and supports await using', async () => {
    let uri: string;
    {
      await using server = await MongoStandIn.start({ port: 0 });
      uri = server.uri;
      expect(uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
      expect(server.port).toBeGreaterThan(0);
      const client = await new MongoClient(uri, { serverSelectionTimeoutMS: 2000 }).connect();
      expect(await client.db('x').command({ ping: 1 })).toMatchObject({ ok: 1 });
      await client.close();
      await server.stop();
      await server.stop();
    }
    const late = new MongoClient(uri, { serverSelectionTimeoutMS: 300 });
    await expect(late.connect()).rejects.toThrow();
    await late.close();
  });

  it('persists data, options and indexes in its snapshot file across restarts', async () => {
    const snapshotPath = join(dir, 'mongo.snapshot');
    const ownerId = new ObjectId();
    {
      await using server = await MongoStandIn.start({ snapshotPath });
      const client = await new MongoClient(server.uri).connect();
      const db = client.db('persisted');
      await db.createCollection('users', { validator: { $jsonSchema: { required: ['email'] } } });
      await db.collection('users').createIndex({ email: 1 }, { unique: true });
      await db.collection('users').insertOne({ email: 'a@x.test', ownerId, big: Long.fromString('9007199254740993'), at: new Date(0) });
      await client.close();
    }
    await using server = await MongoStandIn.start({ snapshotPath });
    const client = await new MongoClient(server.uri).connect();
    try {
      const users = client.db('persisted').collection('users');
      const doc = await users.findOne({}, { promoteLongs: false });
      expect(doc).toMatchObject({ email: 'a@x.test', at: new Date(0) });
      expect(doc?.ownerId.equals(ownerId)).toBe(true);
      expect(String(doc?.big)).toBe('9007199254740993');
      await expect(users.insertOne({ email: 'a@x.test' })).rejects.toMatchObject({ code: 11000 });
      await expect(users.insertOne({ name: 'no email' })).rejects.toMatchObject({ code: 121 });
    } finally {
      await client.close();
    }
  });

  it('expires TTL documents on its configurable monitor interval', async () => {
    await using server = await MongoStandIn.start({ ttlMonitorIntervalMs: 60_000 });
    const client = await new MongoClient(server.uri).connect();
    try {
      const coll = client.db('ttl').collection('c');
      await coll.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
      await coll.insertOne({ at: new Date(Date.now() - 1000) });
      expect(await coll.countDocuments()).toBe(1); // the monitor has not run yet
      expect(server.expireNow()).toBe(1);
      expect(await coll.countDocuments()).toBe(0);
    } finally {
      await client.close();
    }
  });
});
