import mongoose, { Schema } from 'mongoose';
import { describe, expect } from 'vitest';
import { uniqueDatabaseName } from './mongo-target.js';
import { test } from '../../support/fixtures.js';

/** Server-level behaviour: handshake, catalog commands, validators, errors, transactions, concurrency, BSON fidelity. */

const { MongoClient, MongoServerError, Long, ObjectId } = mongoose.mongo;
type Db = mongoose.mongo.Db;
type Document = mongoose.mongo.Document;

describe('handshake and diagnostics', () => {
  test('answers hello, ping and buildInfo', async ({ mongoDatabase: { db } }) => {
    const hello = await db.admin().command({ hello: 1 });
    expect(hello).toMatchObject({ ok: 1, isWritablePrimary: true });
    expect(hello.maxWireVersion).toBeGreaterThanOrEqual(21);
    expect(hello.logicalSessionTimeoutMinutes).toBeGreaterThan(0);
    expect(hello.maxBsonObjectSize).toBe(16 * 1024 * 1024);
    expect(await db.admin().ping()).toMatchObject({ ok: 1 });
    const info = await db.admin().buildInfo();
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Number(String(info.version).split('.')[0])).toBeGreaterThanOrEqual(7);
    const status = await db.admin().serverStatus();
    expect(status).toMatchObject({ ok: 1, process: expect.stringMatching(/mongo/) as unknown });
    expect(status.connections.current).toBeGreaterThan(0);
  });

  test('rejects an unknown command with CommandNotFound (59)', async ({ mongoDatabase: { db } }) => {
    const error: unknown = await db.command({ frobnicate: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({ code: 59, codeName: 'CommandNotFound', message: "no such command: 'frobnicate'" });
  });
});

describe('query, update and pipeline errors', () => {
  test('reports unknown operators and stages with mongod codes', async ({ mongoDatabase: { db } }) => {
    const coll = db.collection('errors');
    await coll.insertOne({ a: 1 });
    await expect(coll.find({ a: { $frob: 1 } }).toArray()).rejects.toMatchObject({ code: 2, codeName: 'BadValue', message: 'unknown operator: $frob' });
    await expect(coll.find({ $frob: [] }).toArray()).rejects.toMatchObject({ code: 2, message: 'unknown top level operator: $frob' });
    await expect(coll.updateOne({ a: 1 }, { $frob: { a: 2 } } as never)).rejects.toMatchObject({
      code: 9,
      message: 'Unknown modifier: $frob. Expected a valid update modifier or pipeline-style update specified as an array',
    });
    await expect(coll.aggregate([{ $frob: {} }]).toArray()).rejects.toMatchObject({
      code: 40324,
      codeName: 'Location40324',
      message: "Unrecognized pipeline stage name: '$frob'",
    });
  });

  test('change streams need a replica set', async ({ mongoDatabase: { db } }) => {
    const hello = await db.admin().command({ hello: 1 });
    const stream = db.collection('errors').watch();
    if (typeof hello.setName === 'string') {
      await stream.close();
      return;
    }
    await expect(stream.tryNext()).rejects.toMatchObject({ code: 40573, message: 'The $changeStream stage is only supported on replica sets' });
    await stream.close();
  });
});

describe('catalog commands', () => {
  test('lists collections and databases, drops collections and the database', async ({ mongoDatabase: { client } }) => {
    const other = client.db(uniqueDatabaseName('conf_server_drop'));
    await other.createCollection('alpha');
    await other.collection('beta').insertOne({ x: 1 });
    const names = (await other.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    expect(names).toEqual(['alpha', 'beta']);
    const full = await other.listCollections({ name: 'alpha' }).toArray();
    expect(full).toHaveLength(1);
    expect(full[0]).toMatchObject({ name: 'alpha', type: 'collection', options: {}, info: { readOnly: false } });
    const dbs = await client.db().admin().listDatabases();
    expect(dbs.databases.map((d) => d.name)).toContain(other.databaseName);
    await expect(other.createCollection('alpha')).rejects.toMatchObject({ code: 48, codeName: 'NamespaceExists' });
    expect(await other.collection('alpha').drop()).toBe(true);
    expect((await other.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)).toEqual(['beta']);
    expect(await other.dropDatabase()).toBe(true);
    expect(await other.listCollections().toArray()).toEqual([]);
    expect(await other.collection('beta').countDocuments()).toBe(0);
    const after = await client.db().admin().listDatabases();
    expect(after.databases.map((d) => d.name)).not.toContain(other.databaseName);
  });

  test('renames a collection', async ({ mongoDatabase: { db } }) => {
    await db.collection('old_name').insertOne({ k: 1 });
    await db.renameCollection('old_name', 'new_name');
    expect(await db.collection('new_name').countDocuments()).toBe(1);
    expect(await db.collection('old_name').countDocuments()).toBe(0);
  });
});

describe('validators', () => {
  test('enforces a $jsonSchema validator with DocumentValidationFailure (121)', async ({ mongoDatabase: { db } }) => {
    await db.createCollection('accounts', {
      validator: {
        $jsonSchema: {
          bsonType: 'object',
          required: ['email', 'ownerId'],
          properties: {
            email: { bsonType: 'string', pattern: '^.+@.+$' },
            ownerId: { bsonType: 'objectId' },
            seats: { bsonType: ['int', 'long'], minimum: 1 },
            plan: { enum: ['free', 'pro'] },
          },
        },
      },
    });
    const accounts = db.collection('accounts');
    await accounts.insertOne({ email: 'a@x.test', ownerId: new ObjectId(), seats: 3, plan: 'pro' });
    const error: unknown = await accounts.insertOne({ email: 'not-an-email', ownerId: new ObjectId() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({ code: 121, message: 'Document failed validation' });
    expect((error as InstanceType<typeof MongoServerError>).errInfo).toMatchObject({ details: { operatorName: '$jsonSchema' } });
    await expect(accounts.insertOne({ email: 'b@x.test', ownerId: 'not-an-object-id' })).rejects.toMatchObject({ code: 121 });
    await expect(accounts.insertOne({ email: 'c@x.test' })).rejects.toMatchObject({ code: 121 });
    await expect(accounts.insertOne({ email: 'd@x.test', ownerId: new ObjectId(), plan: 'gold' })).rejects.toMatchObject({ code: 121 });
    await expect(accounts.updateOne({ email: 'a@x.test' }, { $set: { seats: 0 } })).rejects.toMatchObject({ code: 121 });
    await expect(accounts.updateOne({ email: 'a@x.test' }, { $unset: { ownerId: '' } })).rejects.toMatchObject({ code: 121 });
    expect(await accounts.countDocuments()).toBe(1);
    // bypassDocumentValidation lets a privileged writer through.
    await accounts.insertOne({ email: 'legacy' }, { bypassDocumentValidation: true });
    expect(await accounts.countDocuments()).toBe(2);
    const [info] = await db.listCollections({ name: 'accounts' }, { nameOnly: false }).toArray();
    expect((info as { options?: Document } | undefined)?.options).toHaveProperty('validator.$jsonSchema.required', ['email', 'ownerId']);
  });

  test('accepts query-operator validators and collMod changes', async ({ mongoDatabase: { db } }) => {
    await db.createCollection('scores', { validator: { score: { $gte: 0, $lte: 100 } } });
    const scores = db.collection('scores');
    await scores.insertOne({ score: 50 });
    await expect(scores.insertOne({ score: 101 })).rejects.toMatchObject({ code: 121 });
    await db.command({ collMod: 'scores', validator: { score: { $gte: 0 } } });
    await scores.insertOne({ score: 101 });
    await db.command({ collMod: 'scores', validationAction: 'warn' });
    await scores.insertOne({ score: -5 });
    expect(await scores.countDocuments()).toBe(3);
  });

  test('mongoose surfaces server validation as MongoServerError 121', async ({ mongoDatabase: { target, dbName } }) => {
    const conn = await mongoose.createConnection(target.uri, { dbName }).asPromise();
    try {
      // Create the collection before the model, whose init would otherwise create it without the validator.
      await conn.createCollection('notes', { validator: { $jsonSchema: { required: ['text'] } } });
      const Note = conn.model('Note', new Schema({ text: String }, { collection: 'notes' }));
      await Note.init();
      await Note.create({ text: 'ok' });
      await expect(Note.create({})).rejects.toMatchObject({ code: 121 });
    } finally {
      await conn.close();
    }
  });
});

describe('transactions', () => {
  test('are rejected by a standalone server (code 20) and work on a replica set', async ({ mongoDatabase: { db, client } }) => {
    const hello = await db.admin().command({ hello: 1 });
    const session = client.startSession();
    try {
      const ledger = db.collection('ledger');
      await ledger.insertOne({ seed: true });
      session.startTransaction();
      const attempt = ledger.insertOne({ inTxn: true }, { session });
      if (typeof hello.setName === 'string') {
        await attempt;
        await session.commitTransaction();
        expect(await ledger.countDocuments({ inTxn: true })).toBe(1);
      } else {
        const error: unknown = await attempt.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MongoServerError);
        // The driver wraps this answer in advice about retryable writes; mongod's error stays attached.
        const original = (error as { originalError?: unknown }).originalError ?? error;
        expect(original).toBeInstanceOf(MongoServerError);
        expect(original).toMatchObject({
          code: 20,
          codeName: 'IllegalOperation',
          message: 'Transaction numbers are only allowed on a replica set member or mongos',
        });
        await session.abortTransaction().catch(() => undefined);
        expect(await ledger.countDocuments({ inTxn: true })).toBe(0);
      }
    } finally {
      await session.endSession();
    }
  });
});

describe('concurrency', () => {
  test('500 parallel inserts over a pool of 20 connections all land exactly once', async ({ mongoDatabase: { target, dbName } }) => {
    const pooled = await new MongoClient(target.uri, { maxPoolSize: 20 }).connect();
    try {
      const coll = pooled.db(dbName).collection<{ _id: number; worker: number }>('parallel');
      await coll.createIndex({ worker: 1 }, { unique: true });
      await Promise.all(Array.from({ length: 500 }, (_, i) => coll.insertOne({ _id: i, worker: i })));
      expect(await coll.countDocuments()).toBe(500);
      const ids = (
        await coll
          .find({}, { projection: { _id: 1 } })
          .sort({ _id: 1 })
          .toArray()
      ).map((d) => d._id);
      expect(ids).toEqual(Array.from({ length: 500 }, (_, i) => i));
      // Racing increments on one document are not lost.
      await coll.insertOne({ _id: 10_000, worker: 10_000, n: 0 } as never);
      await Promise.all(Array.from({ length: 200 }, () => coll.updateOne({ _id: 10_000 }, { $inc: { n: 1 } } as never)));
      expect(await coll.findOne({ _id: 10_000 })).toMatchObject({ n: 200 });
      // Racing inserts of the same unique value: exactly one wins.
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => coll.insertOne({ _id: 20_000 + i, worker: 999_999 })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected' && (r.reason as { code?: number }).code === 11000)).toHaveLength(49);
    } finally {
      await pooled.close();
    }
  });
});

describe('BSON fidelity', () => {
  test('keeps int64, Decimal128, dates, binary and nested order intact', async ({ mongoDatabase: mongo, mongoDatabase: { db } }) => {
    const coll = db.collection('types');
    const big = Long.fromString('9007199254740993'); // 2^53 + 1: not representable as a double
    const when = new Date('2024-02-29T12:34:56.789Z');
    await coll.insertOne({
      _id: 'doc',
      big,
      small: Long.fromNumber(5),
      dec: mongoose.mongo.Decimal128.fromString('1.10'),
      when,
      bin: new mongoose.mongo.Binary(Buffer.from([1, 2, 3])),
      nested: { z: 1, a: 2 },
    } as never);
    const raw = await coll.findOne({ _id: 'doc' } as never, { promoteLongs: false });
    expect(raw?.big).toBeInstanceOf(Long);
    expect((raw?.big as InstanceType<typeof Long>).toString()).toBe('9007199254740993');
    expect(raw?.dec.toString()).toBe('1.10');
    expect(raw?.when).toEqual(when);
    expect(Buffer.from((raw?.bin as InstanceType<typeof mongoose.mongo.Binary>).buffer)).toEqual(Buffer.from([1, 2, 3]));
    expect(Object.keys(raw?.nested as object)).toEqual(['z', 'a']);
    // $inc on an int64 keeps it an int64.
    await coll.updateOne({ _id: 'doc' } as never, { $inc: { small: 1 } });
    const after = await coll.findOne({ _id: 'doc' } as never, { promoteLongs: false });
    expect(after?.small).toBeInstanceOf(Long);
    expect((after?.small as InstanceType<typeof Long>).toNumber()).toBe(6);
    // Updating another field leaves int64 and Decimal128 values exactly as they were.
    await coll.updateOne({ _id: 'doc' } as never, { $set: { touched: true } });
    const untouched = await coll.findOne({ _id: 'doc' } as never, { promoteLongs: false });
    expect(String(untouched?.big)).toBe('9007199254740993');
    expect(untouched?.dec).toBeInstanceOf(mongoose.mongo.Decimal128);
    expect(untouched?.dec.toString()).toBe('1.10');
    const [aggregated] = await coll.aggregate([{ $match: { _id: 'doc' } }, { $addFields: { extra: 1 } }], { promoteLongs: false }).toArray();
    expect(aggregated?.big).toBeInstanceOf(Long);
    expect(String(aggregated?.big)).toBe('9007199254740993');
    // int64 values compare numerically with ordinary numbers.
    expect(await coll.countDocuments({ small: { $gt: 5 } })).toBe(1);
    expect(await coll.countDocuments({ small: 6 })).toBe(1);
  });

  test('projects included fields in document order with _id first', async ({ mongoDatabase: { db } }) => {
    const coll = db.collection('order');
    await coll.insertOne({ c: 3, b: 2, a: 1, _id: 'x' } as never);
    const doc = await coll.findOne({ _id: 'x' } as never, { projection: { a: 1, c: 1 } });
    expect(doc && Object.keys(doc)).toEqual(['_id', 'c', 'a']);
    const stored = await coll.findOne({ _id: 'x' } as never);
    expect(stored && Object.keys(stored)).toEqual(['_id', 'c', 'b', 'a']);
  });

  test('rejects changing _id with ImmutableField (66)', async ({ mongoDatabase: { db } }) => {
    const coll = db.collection('immutable');
    await coll.insertOne({ _id: 1, v: 1 } as never);
    await expect(coll.updateOne({ _id: 1 } as never, { $set: { _id: 2 } } as never)).rejects.toMatchObject({ code: 66 });
  });
});
