import mongoose from 'mongoose';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';

// docker-compose's and testcontainers' MongoDB are replica sets; the stand-in is one only when asked.
test.override('mongoReplicaSet', true);

/**
 * Multi-document transactions: the server-side outcomes of
 * mongodb/specifications source/transactions/tests/unified/ (file and test
 * named per case; the operations, results and `outcome` collections, not the
 * command-monitoring expectations, which check the driver). Runs against the
 * real replica set when the stack has one, else the stand-in's replica-set mode.
 */

const { MongoServerError } = mongoose.mongo;
type Db = mongoose.mongo.Db;
type Document = mongoose.mongo.Document;
type Collection = mongoose.mongo.Collection;
type ClientSession = mongoose.mongo.ClientSession;

let counter = 0;
/** The file's `initialData` in a fresh collection. */
async function initialData(db: Db, documents: Document[]): Promise<Collection> {
  const name = `txn_${++counter}`;
  await db.createCollection(name);
  const coll = db.collection(name);
  if (documents.length > 0) await coll.insertMany(documents);
  return coll;
}

async function withSession(db: Db, fn: (session: ClientSession) => Promise<void>): Promise<void> {
  const session = db.client.startSession();
  try {
    await fn(session);
  } finally {
    await session.endSession();
  }
}

const ids = (n: number): Document[] => Array.from({ length: n }, (_, i) => ({ _id: i + 1 }));

describe('insert.yml', () => {
  test('"insert"', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, []);
    await withSession(db, async (session) => {
      session.startTransaction();
      expect((await coll.insertOne({ _id: 1 } as Document, { session })).insertedId).toBe(1);
      expect((await coll.insertMany([{ _id: 2 }, { _id: 3 }] as Document[], { session })).insertedIds).toEqual({ 0: 2, 1: 3 });
      await coll.insertOne({ _id: 4 } as Document, { session });
      await session.commitTransaction();
      session.startTransaction();
      await coll.insertOne({ _id: 5 } as Document, { session });
      await session.commitTransaction();
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual(ids(5));
  });

  test('"insert with session1"', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, []);
    await withSession(db, async (session0) => {
      await withSession(db, async (session1) => {
        session0.startTransaction();
        await coll.insertOne({ _id: 1 } as Document, { session: session0 });
        session1.startTransaction();
        await coll.insertOne({ _id: 2 } as Document, { session: session1 });
        await session0.commitTransaction();
        await session1.commitTransaction();
      });
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual(ids(2));
  });

  test('"collection writeConcern ignored for insert" (w: majority on the collection and the transaction)', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, []);
    const majority = db.collection(coll.collectionName, { writeConcern: { w: 'majority' } });
    await withSession(db, async (session) => {
      session.startTransaction({ writeConcern: { w: 'majority' } });
      await majority.insertOne({ _id: 1 } as Document, { session });
      await majority.insertMany([{ _id: 2 }, { _id: 3 }] as Document[], { session });
      await session.commitTransaction();
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual(ids(3));
  });
});

describe('update.yml, delete.yml', () => {
  test('"update"', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(3));
    await withSession(db, async (session) => {
      session.startTransaction();
      expect(await coll.updateOne({ _id: 4 } as Document, { $inc: { x: 1 } }, { upsert: true, session })).toMatchObject({
        matchedCount: 0,
        modifiedCount: 0,
        upsertedCount: 1,
        upsertedId: 4,
      });
      expect(await coll.replaceOne({ x: 1 }, { y: 1 }, { session })).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
      expect(await coll.updateMany({ _id: { $gte: 3 } } as Document, { $set: { z: 1 } }, { session })).toMatchObject({
        matchedCount: 2,
        modifiedCount: 2,
        upsertedCount: 0,
      });
      await session.commitTransaction();
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 1 }, { _id: 2 }, { _id: 3, z: 1 }, { _id: 4, y: 1, z: 1 }]);
  });

  test('"delete"', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(5));
    await withSession(db, async (session) => {
      session.startTransaction();
      expect((await coll.deleteOne({ _id: 1 } as Document, { session })).deletedCount).toBe(1);
      expect((await coll.deleteMany({ _id: { $lte: 3 } } as Document, { session })).deletedCount).toBe(2);
      expect((await coll.deleteOne({ _id: 4 } as Document, { session })).deletedCount).toBe(1);
      await session.commitTransaction();
    });
    expect(await coll.find().toArray()).toEqual([{ _id: 5 }]);
  });
});

describe('findOneAndUpdate.yml, findOneAndDelete.yml, findOneAndReplace.yml', () => {
  test('"findOneAndUpdate" (two commits, then an abort)', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(3));
    await withSession(db, async (session) => {
      session.startTransaction();
      expect(await coll.findOneAndUpdate({ _id: 3 } as Document, { $inc: { x: 1 } }, { returnDocument: 'before', session })).toEqual({ _id: 3 });
      expect(await coll.findOneAndUpdate({ _id: 4 } as Document, { $inc: { x: 1 } }, { upsert: true, returnDocument: 'after', session })).toEqual({
        _id: 4,
        x: 1,
      });
      await session.commitTransaction();
      session.startTransaction();
      expect(await coll.findOneAndUpdate({ _id: 3 } as Document, { $inc: { x: 1 } }, { returnDocument: 'before', session })).toEqual({ _id: 3, x: 1 });
      await session.commitTransaction();
      session.startTransaction();
      expect(await coll.findOneAndUpdate({ _id: 3 } as Document, { $inc: { x: 1 } }, { returnDocument: 'before', session })).toEqual({ _id: 3, x: 2 });
      await session.abortTransaction();
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 1 }, { _id: 2 }, { _id: 3, x: 2 }, { _id: 4, x: 1 }]);
  });

  test('"findOneAndDelete"', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(3));
    await withSession(db, async (session) => {
      session.startTransaction();
      expect(await coll.findOneAndDelete({ _id: 3 } as Document, { session })).toEqual({ _id: 3 });
      expect(await coll.findOneAndDelete({ _id: 4 } as Document, { session })).toBeNull();
      await session.commitTransaction();
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual(ids(2));
  });

  test('"findOneAndReplace"', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(3));
    await withSession(db, async (session) => {
      session.startTransaction();
      expect(await coll.findOneAndReplace({ _id: 3 } as Document, { x: 1 }, { returnDocument: 'before', session })).toEqual({ _id: 3 });
      expect(await coll.findOneAndReplace({ _id: 4 } as Document, { x: 1 }, { upsert: true, returnDocument: 'after', session })).toEqual({ _id: 4, x: 1 });
      await session.commitTransaction();
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 1 }, { _id: 2 }, { _id: 3, x: 1 }, { _id: 4, x: 1 }]);
  });
});

describe('"collection writeConcern ignored for …" (update.yml, delete.yml, findOneAnd*.yml) and "collection writeConcern without transaction" (insert.yml)', () => {
  // A collection and a transaction with w: majority: the statements inside the transaction carry no write concern, the commit does.
  const cases: Array<[string, number, (coll: Collection, session: ClientSession) => Promise<void>]> = [
    [
      'update',
      3,
      async (coll, session) => {
        expect(await coll.updateOne({ _id: 4 } as Document, { $inc: { x: 1 } }, { upsert: true, session })).toMatchObject({ upsertedCount: 1, upsertedId: 4 });
        expect(await coll.replaceOne({ x: 1 }, { y: 1 }, { session })).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
        expect(await coll.updateMany({ _id: { $gte: 3 } } as Document, { $set: { z: 1 } }, { session })).toMatchObject({ matchedCount: 2, modifiedCount: 2 });
      },
    ],
    [
      'delete',
      5,
      async (coll, session) => {
        expect((await coll.deleteOne({ _id: 1 } as Document, { session })).deletedCount).toBe(1);
        expect((await coll.deleteMany({ _id: { $lte: 3 } } as Document, { session })).deletedCount).toBe(2);
      },
    ],
    [
      'findOneAndUpdate',
      3,
      async (coll, session) =>
        void expect(await coll.findOneAndUpdate({ _id: 3 } as Document, { $inc: { x: 1 } }, { returnDocument: 'before', session })).toEqual({ _id: 3 }),
    ],
    ['findOneAndDelete', 3, async (coll, session) => void expect(await coll.findOneAndDelete({ _id: 3 } as Document, { session })).toEqual({ _id: 3 })],
    [
      'findOneAndReplace',
      3,
      async (coll, session) =>
        void expect(await coll.findOneAndReplace({ _id: 3 } as Document, { x: 1 }, { returnDocument: 'before', session })).toEqual({ _id: 3 }),
    ],
  ];
  test.for(cases)('"collection writeConcern ignored for %s"', async ([, initial, run], { mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(initial));
    const majority = db.collection(coll.collectionName, { writeConcern: { w: 'majority' } });
    await withSession(db, async (session) => {
      session.startTransaction({ writeConcern: { w: 'majority' } });
      await run(majority, session);
      await session.commitTransaction();
    });
  });

  test('"collection writeConcern without transaction"', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, []);
    await db.collection(coll.collectionName, { writeConcern: { w: 'majority' } }).insertOne({ _id: 1 } as Document);
    expect(await coll.find().toArray()).toEqual([{ _id: 1 }]);
  });
});

describe('reads.yml', () => {
  test('"find" (batchSize 3, twice), "aggregate" and "distinct" inside a transaction', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(4));
    await withSession(db, async (session) => {
      session.startTransaction();
      expect(await coll.find({}, { batchSize: 3, session }).toArray()).toEqual(ids(4));
      expect(await coll.find({}, { batchSize: 3, session }).toArray()).toEqual(ids(4));
      expect(await coll.aggregate([{ $project: { _id: 1 } }], { batchSize: 3, session }).toArray()).toEqual(ids(4));
      expect(await coll.distinct('_id', {}, { session })).toEqual([1, 2, 3, 4]);
      await session.commitTransaction();
    });
  });

  test('"collection readConcern without transaction" (majority)', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, ids(4));
    expect(
      await db
        .collection(coll.collectionName, { readConcern: { level: 'majority' } })
        .find()
        .toArray(),
    ).toEqual(ids(4));
  });
});

describe('commit.yml', () => {
  test('"multiple commits in a row": a committed transaction can be committed again', async ({ mongoDatabase: { db } }) => {
    const coll = await initialData(db, []);
    await withSession(db, async (session) => {
      session.startTransaction();
      await coll.insertOne({ _id: 1 } as Document, { session });
      await session.commitTransaction();
      await session.commitTransaction();
      await session.commitTransaction();
    });
    expect(await coll.find().toArray()).toEqual([{ _id: 1 }]);
  });

  test('"write concern error on commit": w 10 commits the writes and reports writeConcernError 100, without transient labels', async ({
    mongoDatabase: { db },
  }) => {
    const coll = await initialData(db, []);
    await withSession(db, async (session) => {
      session.startTransaction({ writeConcern: { w: 10 } });
      await coll.insertOne({ _id: 1 } as Document, { session });
      const error: unknown = await session.commitTransaction().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MongoServerError);
      const server = error as InstanceType<typeof MongoServerError>;
      expect(server.hasErrorLabel('TransientTransactionError')).toBe(false);
      expect(server.hasErrorLabel('UnknownTransactionCommitResult')).toBe(false);
    });
    expect(await coll.find().toArray()).toEqual([{ _id: 1 }]);
  });
});
