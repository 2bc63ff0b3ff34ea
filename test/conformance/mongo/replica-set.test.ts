import mongoose, { Schema } from 'mongoose';
import { describe, expect } from 'vitest';
import { realAnswerOrRefusal } from './mongo-target.js';
import { test } from '../../support/fixtures.js';

// docker-compose's and testcontainers' MongoDB are replica sets; the stand-in is one only when asked.
test.override('mongoReplicaSet', true);

/**
 * Replica-set behaviour: sessions, multi-document transactions and change
 * streams. Runs against the real replica set when the stack has one
 * (docker-compose / testcontainers), else the stand-in's replica-set mode.
 * Cases transcribed from mongodb/specifications (source/transactions/tests/unified/,
 * source/change-streams/tests/unified/) and the MongoDB manual; each names its source.
 */

const { MongoServerError } = mongoose.mongo;
type Db = mongoose.mongo.Db;
type MongoClient = mongoose.mongo.MongoClient;
type Document = mongoose.mongo.Document;
type ChangeStream = mongoose.mongo.ChangeStream;

let collectionCounter = 0;
/** A fresh, empty, existing collection per test (transactions do not create collections before 4.4). */
async function freshCollection(db: mongoose.mongo.Db, prefix: string): Promise<mongoose.mongo.Collection> {
  const name = `${prefix}_${++collectionCounter}`;
  await db.createCollection(name);
  return db.collection(name);
}

/** The error a promise rejects with (fails the test when it resolves). */
async function failure(promise: Promise<unknown>): Promise<InstanceType<typeof MongoServerError>> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected a server error');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MongoServerError);
  return error as InstanceType<typeof MongoServerError>;
}

/** Runs `fn` with `count` new sessions, ending them afterwards. */
async function withSessions(
  client: InstanceType<typeof mongoose.mongo.MongoClient>,
  count: number,
  fn: (...sessions: mongoose.mongo.ClientSession[]) => Promise<void>,
): Promise<void> {
  const sessions = Array.from({ length: count }, () => client.startSession());
  try {
    await fn(...sessions);
  } finally {
    await Promise.all(sessions.map((s) => s.endSession()));
  }
}

/** Opens a change stream now: its aggregate has run when this resolves (tryNext sends it). */
async function opened(stream: ChangeStream): Promise<ChangeStream> {
  expect(await stream.tryNext()).toBeNull();
  return stream;
}

describe('topology', () => {
  // SDAM spec (source/server-discovery-and-monitoring): an RSPrimary answers setName, hosts, primary, me.
  test('hello reports a replica-set primary, and the driver discovers it as ReplicaSetWithPrimary', async ({ mongoDatabase: { db, client } }) => {
    const hello = await db.admin().command({ hello: 1 });
    expect(hello).toMatchObject({ isWritablePrimary: true, secondary: false, setName: expect.any(String) as unknown });
    expect(hello.hosts).toContain(hello.primary);
    expect(hello.me).toBe(hello.primary);
    const description = (client as unknown as { topology: { description: { type: string } } }).topology.description;
    expect(description.type).toBe('ReplicaSetWithPrimary');
  });
});

describe('transactions (mongodb/specifications source/transactions/tests/unified)', () => {
  // isolation.yml "one transaction"
  test('a transaction sees its own insert; other sessions and unsessioned reads do not until commit', async ({ mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'iso');
    await withSessions(client, 2, async (s0, s1) => {
      s0.startTransaction();
      await coll.insertOne({ _id: 1 } as Document, { session: s0 });
      expect(await coll.find({ _id: 1 } as Document, { session: s0 }).toArray()).toEqual([{ _id: 1 }]);
      expect(await coll.find({ _id: 1 } as Document, { session: s1 }).toArray()).toEqual([]);
      expect(await coll.find({ _id: 1 } as Document).toArray()).toEqual([]);
      await s0.commitTransaction();
      expect(await coll.find({ _id: 1 } as Document, { session: s1 }).toArray()).toEqual([{ _id: 1 }]);
      expect(await coll.find({ _id: 1 } as Document).toArray()).toEqual([{ _id: 1 }]);
    });
  });

  // isolation.yml "two transactions": a transaction started before another's commit keeps its snapshot.
  test('a concurrent transaction keeps reading its snapshot after the other commits', async ({ mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'iso2');
    await withSessions(client, 2, async (s0, s1) => {
      s0.startTransaction();
      s1.startTransaction();
      await coll.insertOne({ _id: 1 } as Document, { session: s0 });
      expect(await coll.find({ _id: 1 } as Document, { session: s1 }).toArray()).toEqual([]);
      await s0.commitTransaction();
      expect(await coll.find({ _id: 1 } as Document, { session: s1 }).toArray()).toEqual([]);
      expect(await coll.find({ _id: 1 } as Document).toArray()).toEqual([{ _id: 1 }]);
      await s1.commitTransaction();
    });
  });

  // abort.yml "abort": nothing of an aborted transaction remains; the session can start another.
  test('abortTransaction discards the writes', async ({ mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'abort');
    await withSessions(client, 1, async (session) => {
      session.startTransaction();
      await coll.insertOne({ _id: 1 } as Document, { session });
      await session.abortTransaction();
      session.startTransaction();
      await coll.insertOne({ _id: 1 } as Document, { session });
      await session.abortTransaction();
      expect(await coll.find().toArray()).toEqual([]);
    });
  });

  // errors.yml "write conflict commit" / "write conflict abort"
  test('a second transaction writing the same document gets WriteConflict (112, TransientTransactionError); its commit then gets NoSuchTransaction', async ({
    mongoDatabase: { db, client },
  }) => {
    const coll = await freshCollection(db, 'conflict');
    await withSessions(client, 2, async (s0, s1) => {
      s0.startTransaction();
      await coll.insertOne({ _id: 1 } as Document, { session: s0 });
      s1.startTransaction();
      const conflict = await failure(coll.insertOne({ _id: 1 } as Document, { session: s1 }));
      expect(conflict).toMatchObject({ code: 112, codeName: 'WriteConflict' });
      expect(conflict.hasErrorLabel('TransientTransactionError')).toBe(true);
      expect(conflict.hasErrorLabel('UnknownTransactionCommitResult')).toBe(false);
      await s0.commitTransaction();
      const commit = await failure(s1.commitTransaction());
      expect(commit).toMatchObject({ codeName: 'NoSuchTransaction' });
      expect(commit.hasErrorLabel('TransientTransactionError')).toBe(true);
      expect(await coll.find().toArray()).toEqual([{ _id: 1 }]);
    });
  });

  // mongodb/mongo jstests/core/txns/transactions_write_conflicts_unique_indexes.js (both orderings of
  // jstests/core/txns/libs/write_conflicts.js): writers of one unique-index value under different _ids conflict.
  test('transactions writing the same unique-index value conflict at the second write; the first wins', async ({
    mongoDatabase: mongo,
    mongoDatabase: { db, client },
  }) => {
    const cases: Array<{
      init: Document[];
      t1: (c: mongoose.mongo.Collection, session: mongoose.mongo.ClientSession) => Promise<unknown>;
      t2: (c: mongoose.mongo.Collection, session: mongoose.mongo.ClientSession) => Promise<unknown>;
      expected: Document[];
    }> = [
      {
        init: [],
        t1: (c, session) => c.insertOne({ _id: 1, x: 1 } as Document, { session }),
        t2: (c, session) => c.insertOne({ _id: 2, x: 1 } as Document, { session }),
        expected: [{ _id: 1, x: 1 }],
      },
      {
        init: [
          { _id: 1, x: 1 },
          { _id: 2, x: 2 },
        ],
        t1: (c, session) => c.updateOne({ _id: 1 } as Document, { $set: { x: 3 } }, { session }),
        t2: (c, session) => c.updateOne({ _id: 2 } as Document, { $set: { x: 3 } }, { session }),
        expected: [
          { _id: 1, x: 3 },
          { _id: 2, x: 2 },
        ],
      },
      {
        init: [],
        t1: (c, session) => c.updateOne({ _id: 1 } as Document, { $set: { x: 1 } }, { session, upsert: true }),
        t2: (c, session) => c.updateOne({ _id: 2 } as Document, { $set: { x: 1 } }, { session, upsert: true }),
        expected: [{ _id: 1, x: 1 }],
      },
      {
        init: [
          { _id: 1, x: 1 },
          { _id: 2, x: 2 },
          { _id: 3, x: 3 },
          { _id: 4, x: 10 },
          { _id: 5, x: 11 },
          { _id: 6, x: 12 },
        ],
        t1: (c, session) => c.updateMany({ _id: { $lte: 3 } } as Document, { $inc: { x: 4 } }, { session }),
        t2: (c, session) => c.updateMany({ _id: { $gte: 4 } } as Document, { $inc: { x: -4 } }, { session }),
        expected: [
          { _id: 1, x: 5 },
          { _id: 2, x: 6 },
          { _id: 3, x: 7 },
          { _id: 4, x: 10 },
          { _id: 5, x: 11 },
          { _id: 6, x: 12 },
        ],
      },
    ];
    const seeded = async (init: Document[]): Promise<mongoose.mongo.Collection> => {
      const coll = await freshCollection(db, 'uniq');
      await coll.createIndex({ x: 1 }, { unique: true });
      if (init.length > 0) await coll.insertMany(init);
      return coll;
    };
    for (const { init, t1, t2, expected } of cases) {
      const coll = await seeded(init);
      await withSessions(client, 2, async (s1, s2) => {
        s1.startTransaction();
        s2.startTransaction();
        await t1(coll, s1);
        const conflict = await failure(t2(coll, s2));
        expect(conflict).toMatchObject({ code: 112, codeName: 'WriteConflict' });
        expect(conflict.hasErrorLabel('TransientTransactionError')).toBe(true);
        await s1.commitTransaction();
        await s2.abortTransaction();
      });
      expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual(expected);

      // "T2StartsSecondAndWins": T1 takes its snapshot (a find), T2 writes and commits, then T1's write conflicts.
      const again = await seeded(init);
      await withSessions(client, 2, async (s1, s2) => {
        s1.startTransaction();
        s2.startTransaction();
        await again.find({}, { session: s1 }).toArray();
        await t2(again, s2);
        await s2.commitTransaction();
        const conflict = await failure(t1(again, s1));
        expect(conflict).toMatchObject({ code: 112, codeName: 'WriteConflict' });
        expect((await failure(s1.commitTransaction())).codeName).toBe('NoSuchTransaction');
      });
    }
  });

  // abort.yml "abort ignores TransactionAborted": a duplicate key aborts the server-side transaction.
  test('a duplicate key inside a transaction is E11000 without TransientTransactionError; the next statement gets NoSuchTransaction', async ({
    mongoDatabase: { db, client },
  }) => {
    const coll = await freshCollection(db, 'dup');
    await withSessions(client, 1, async (session) => {
      session.startTransaction();
      await coll.insertOne({ _id: 1 } as Document, { session });
      const duplicate: unknown = await coll.insertOne({ _id: 1 } as Document, { session }).catch((e: unknown) => e);
      expect(String((duplicate as Error).message)).toContain('E11000');
      expect((duplicate as InstanceType<typeof MongoServerError>).hasErrorLabel('TransientTransactionError')).toBe(false);
      const next = await failure(coll.insertOne({ _id: 2 } as Document, { session }));
      expect(next).toMatchObject({ codeName: 'NoSuchTransaction' });
      expect(next.hasErrorLabel('TransientTransactionError')).toBe(true);
      await session.abortTransaction();
      expect(await coll.find().toArray()).toEqual([]);
    });
  });

  // count.yml: count is not allowed in a transaction (OperationNotSupportedInTransaction).
  test('refuses count inside a transaction with OperationNotSupportedInTransaction', async ({ mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'count');
    await withSessions(client, 1, async (session) => {
      session.startTransaction();
      const error = await failure(coll.estimatedDocumentCount({ session } as never).then(() => db.command({ count: coll.collectionName }, { session })));
      expect(error).toMatchObject({ code: 263, codeName: 'OperationNotSupportedInTransaction' });
      await session.abortTransaction().catch(() => undefined);
    });
  });

  // create-index.yml "create index on a non-existing collection" / "… on a collection created within the same transaction"
  test('creates a collection and its index inside a transaction, visible only after commit', async ({ mongoDatabase: { db, client } }) => {
    const indexNames = async (name: string): Promise<string[]> =>
      (
        await db
          .collection(name)
          .listIndexes()
          .toArray()
          .catch(() => [])
      ).map((i) => String(i.name));
    for (const createFirst of [false, true]) {
      const name = `txn_index_${++collectionCounter}`;
      await withSessions(client, 1, async (session) => {
        session.startTransaction();
        if (createFirst) await db.createCollection(name, { session });
        await db.collection(name).createIndex({ x: 1 }, { name: 't_1', session });
        expect(await indexNames(name)).not.toContain('t_1');
        await session.commitTransaction();
      });
      expect(await indexNames(name)).toContain('t_1');
    }
    // Manual, "Create Collections and Indexes in a Transaction": not on a collection that already existed.
    const existing = await freshCollection(db, 'txn_index_existing');
    await withSessions(client, 1, async (session) => {
      session.startTransaction();
      const error = await failure(existing.createIndex({ x: 1 }, { session }));
      expect(error).toMatchObject({ code: 263, codeName: 'OperationNotSupportedInTransaction' });
      await session.abortTransaction().catch(() => undefined);
    });
  });

  // Manual, "Production Considerations → In-progress Transactions and Write Conflicts": a write outside
  // the transaction to a document the transaction modified waits until the transaction ends.
  test('a write outside any transaction to a document a transaction holds waits for the commit', async ({ mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'wait');
    await coll.insertOne({ _id: 1, n: 0 } as Document);
    await withSessions(client, 1, async (session) => {
      session.startTransaction();
      await coll.updateOne({ _id: 1 } as Document, { $inc: { n: 1 } }, { session });
      let finished = false;
      const outside = coll.updateOne({ _id: 1 } as Document, { $inc: { n: 10 } }).then(() => (finished = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(finished).toBe(false);
      await session.commitTransaction();
      await outside;
      expect(await coll.findOne({ _id: 1 } as Document)).toEqual({ _id: 1, n: 11 });
    });
  });
});

describe('operations outside transactions meet a transaction (MongoDB manual, "Production Considerations")', () => {
  // "In-progress Transactions and Write Conflicts": a write outside the transaction to a document the transaction
  // modified waits until the transaction ends — also a multi-document write that reaches it after other documents.
  test('a multi-document write waits for the transaction holding one of its documents, then applies to all', async ({ mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'multi');
    await coll.insertMany([
      { _id: 1, n: 0 },
      { _id: 2, n: 0 },
      { _id: 3, n: 0 },
    ] as Document[]);
    await withSessions(client, 1, async (session) => {
      session.startTransaction();
      await coll.updateOne({ _id: 3 } as Document, { $inc: { n: 10 } }, { session });
      let finished = false;
      const outside = coll.updateMany({}, { $inc: { n: 1 } }).then(() => (finished = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(finished).toBe(false);
      expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([
        { _id: 1, n: 0 },
        { _id: 2, n: 0 },
        { _id: 3, n: 0 },
      ]);
      await session.commitTransaction();
      await outside;
    });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 1, n: 1 },
      { _id: 2, n: 1 },
      { _id: 3, n: 11 },
    ]);
  });

  // "DDL Operations": a DDL operation on a collection a transaction uses waits for the transaction's lock.
  test('dropping a collection a transaction has read waits until the transaction ends', async ({ mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'ddl');
    await coll.insertOne({ _id: 1 } as Document);
    await withSessions(client, 1, async (session) => {
      session.startTransaction();
      expect(await coll.find({}, { session }).toArray()).toEqual([{ _id: 1 }]);
      let dropped = false;
      const drop = coll.drop().then(() => (dropped = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(dropped).toBe(false);
      await session.commitTransaction();
      await drop;
    });
    expect(await db.listCollections({ name: coll.collectionName }).toArray()).toEqual([]);
  });
});

describe('write concern on a replica set', () => {
  // Server answer seen in the PHP and Java drivers' tests (writeConcernError 100 "Not enough data-bearing nodes",
  // UnsatisfiableWriteConcern) and the CRUD spec's write-concern tests: the write is applied, the concern reported unmet.
  test('w above the number of members applies the write and reports writeConcernError 100', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'wc');
    const error: unknown = await coll.insertOne({ _id: 1 } as Document, { writeConcern: { w: 10 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(mongoose.mongo.MongoWriteConcernError);
    expect(error).toMatchObject({ code: 100, codeName: 'UnsatisfiableWriteConcern' });
    expect(await coll.find().toArray()).toEqual([{ _id: 1 }]);
  });
});

describe('mongoose on a replica set', () => {
  // mongoose docs, "Transactions": connection.transaction() wraps session.withTransaction, which retries on TransientTransactionError.
  test('connection.transaction() commits, rolls back on a thrown error, and concurrent transactions on one document both land', async ({
    mongoDatabase: mongo,
  }) => {
    const conn = await mongoose.createConnection(mongo.target.uri, { dbName: mongo.dbName }).asPromise();
    try {
      const Account = conn.model('Account', new Schema({ owner: String, balance: Number }), `accounts_${++collectionCounter}`);
      await Account.createCollection();
      const [ada, bob] = await Account.create([
        { owner: 'ada', balance: 100 },
        { owner: 'bob', balance: 0 },
      ]);
      await conn.transaction(async (session) => {
        await Account.updateOne({ _id: ada!._id }, { $inc: { balance: -30 } }, { session });
        expect((await Account.findById(ada!._id).lean())?.balance).toBe(100);
        await Account.updateOne({ _id: bob!._id }, { $inc: { balance: 30 } }, { session });
      });
      expect((await Account.find().sort({ owner: 1 }).lean()).map((a) => a.balance)).toEqual([70, 30]);
      await expect(
        conn.transaction(async (session) => {
          await Account.updateOne({ _id: ada!._id }, { $inc: { balance: -1000 } }, { session });
          throw new Error('insufficient funds');
        }),
      ).rejects.toThrow('insufficient funds');
      expect((await Account.findById(ada!._id).lean())?.balance).toBe(70);
      await Promise.all(
        Array.from({ length: 5 }, () =>
          conn.transaction(async (session) => {
            const current = await Account.findById(ada!._id).session(session).lean();
            await Account.updateOne({ _id: ada!._id }, { $set: { balance: (current?.balance ?? 0) + 1 } }, { session });
          }),
        ),
      );
      expect((await Account.findById(ada!._id).lean())?.balance).toBe(75);
    } finally {
      await conn.close();
    }
  });

  // Manual, "Change Events" (update event: updateDescription; fullDocument: 'updateLookup'), and the
  // transaction fields lsid/txnNumber on events of a committed transaction.
  test('Model.watch() reports a transaction only after its commit, with updateDescription and the looked-up document', async ({ mongoDatabase: mongo }) => {
    const conn = await mongoose.createConnection(mongo.target.uri, { dbName: mongo.dbName }).asPromise();
    try {
      const Item = conn.model('Item', new Schema({ sku: String, qty: Number }), `items_${++collectionCounter}`);
      await Item.createCollection();
      const item = await Item.create({ sku: 'a', qty: 1 });
      const { operationTime } = await conn.db!.admin().command({ ping: 1 });
      await conn.transaction(async (session) => {
        await Item.updateOne({ _id: item._id }, { $inc: { qty: 4 } }, { session });
      });
      const changes = Item.watch([{ $match: { operationType: 'update' } }], { fullDocument: 'updateLookup', startAtOperationTime: operationTime });
      try {
        const event = (await changes.next()) as Document;
        expect(event).toMatchObject({
          operationType: 'update',
          documentKey: { _id: item._id },
          updateDescription: { updatedFields: { qty: 5 }, removedFields: [] },
          fullDocument: { _id: item._id, sku: 'a', qty: 5 },
        });
        expect(event.txnNumber).toBeDefined();
        expect(event.lsid).toBeDefined();
      } finally {
        await changes.close();
      }
    } finally {
      await conn.close();
    }
  });
});

describe('change streams (mongodb/specifications source/change-streams/tests/unified/change-streams.yml)', () => {
  // "Test insert, update, replace, and delete event types"
  test('reports insert, update, replace and delete', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'events');
    const stream = await opened(coll.watch([], { maxAwaitTimeMS: 100 }));
    try {
      await coll.insertOne({ x: 1 });
      await coll.updateOne({ x: 1 }, { $set: { x: 2 } });
      await coll.replaceOne({ x: 2 }, { x: 3 });
      await coll.deleteOne({ x: 3 });
      const ns = { db: db.databaseName, coll: coll.collectionName };
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns, fullDocument: { x: 1 } });
      expect(await stream.next()).toMatchObject({ operationType: 'update', ns, updateDescription: { updatedFields: { x: 2 }, removedFields: [] } });
      expect(await stream.next()).toMatchObject({ operationType: 'replace', ns, fullDocument: { x: 3 } });
      expect(await stream.next()).toMatchObject({ operationType: 'delete', ns });
    } finally {
      await stream.close();
    }
  });

  // "Test array truncation": a pipeline update that shortens an array reports truncatedArrays.
  test('reports a shortened array as truncatedArrays', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'trunc');
    await coll.insertOne({ _id: 1, a: 1, array: ['foo', { a: 'bar' }, 1, 2, 3] } as Document);
    const stream = await opened(coll.watch([], { maxAwaitTimeMS: 100 }));
    try {
      await coll.updateOne({ _id: 1 } as Document, [{ $set: { array: ['foo', { a: 'bar' }] } }]);
      expect(await stream.next()).toMatchObject({
        operationType: 'update',
        updateDescription: { updatedFields: {}, removedFields: [], truncatedArrays: [{ field: 'array', newSize: 2 }] },
      });
    } finally {
      await stream.close();
    }
  });

  // "Change Stream should allow valid aggregate pipeline stages"
  test('applies a $match stage to the events', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'match');
    const stream = await opened(coll.watch([{ $match: { 'fullDocument.z': 3 } }], { maxAwaitTimeMS: 100 }));
    try {
      await coll.insertOne({ y: 2 });
      await coll.insertOne({ z: 3 });
      expect(await stream.next()).toMatchObject({ operationType: 'insert', fullDocument: { z: 3 } });
    } finally {
      await stream.close();
    }
  });

  // "Executing a watch helper on a Database results in notifications for changes to all collections in the specified database."
  test('a database stream sees every collection of that database and no other database', async ({ mongoDatabase: { client, db } }) => {
    const other = client.db(`${db.databaseName}_other`);
    const stream = await opened(db.watch([], { maxAwaitTimeMS: 100 }));
    try {
      await db.collection('dbwatch_1').insertOne({ x: 1 });
      await other.collection('dbwatch_0').insertOne({ y: 2 });
      await db.collection('dbwatch_0').insertOne({ z: 3 });
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns: { db: db.databaseName, coll: 'dbwatch_1' }, fullDocument: { x: 1 } });
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns: { db: db.databaseName, coll: 'dbwatch_0' }, fullDocument: { z: 3 } });
    } finally {
      await stream.close();
      await other.dropDatabase();
    }
  });

  // "Test drop and invalidate event types" and "Test rename and invalidate event types"
  test('a collection stream ends with drop (or rename, with `to`) followed by invalidate', async ({ mongoDatabase: { db } }) => {
    const dropped = await freshCollection(db, 'drop');
    const dropStream = await opened(dropped.watch([], { maxAwaitTimeMS: 100 }));
    await dropped.drop();
    expect(await dropStream.next()).toMatchObject({ operationType: 'drop', ns: { db: db.databaseName, coll: dropped.collectionName } });
    expect(await dropStream.next()).toMatchObject({ operationType: 'invalidate' });
    await dropStream.close();

    const renamed = await freshCollection(db, 'rename');
    const renameStream = await opened(renamed.watch([], { maxAwaitTimeMS: 100 }));
    await renamed.rename(`${renamed.collectionName}_to`);
    expect(await renameStream.next()).toMatchObject({
      operationType: 'rename',
      ns: { db: db.databaseName, coll: renamed.collectionName },
      to: { db: db.databaseName, coll: `${renamed.collectionName}_to` },
    });
    expect(await renameStream.next()).toMatchObject({ operationType: 'invalidate' });
    await renameStream.close();
  });

  // "Test server error on projecting out _id": 280 ChangeStreamFatalError, NonResumableChangeStreamError.
  test('refuses a pipeline that removes the resume token', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'noid');
    const stream = await opened(coll.watch([{ $project: { _id: 0 } }], { maxAwaitTimeMS: 100 }));
    try {
      await coll.insertOne({ _id: 1, a: 1 } as Document);
      const error = await failure(stream.next());
      expect(error).toMatchObject({ code: 280, codeName: 'ChangeStreamFatalError' });
      expect(error.hasErrorLabel('NonResumableChangeStreamError')).toBe(true);
    } finally {
      await stream.close();
    }
  });

  // Manual, "Resume a Change Stream": resumeAfter an event's _id continues with the next event.
  test('resumes after a resume token', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'resume');
    const stream = await opened(coll.watch([], { maxAwaitTimeMS: 100 }));
    await coll.insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const first = (await stream.next()) as Document;
    await stream.close();
    const resumed = coll.watch([], { resumeAfter: first._id as Document, maxAwaitTimeMS: 100 });
    try {
      expect(await resumed.next()).toMatchObject({ fullDocument: { n: 2 } });
      expect(await resumed.next()).toMatchObject({ fullDocument: { n: 3 } });
    } finally {
      await resumed.close();
    }
  });
  // "Executing a watch helper on a MongoClient results in notifications for changes to all collections in all databases in the cluster."
  test('a client stream sees every database', async ({ mongoDatabase: { client, db } }) => {
    const other = client.db(`${db.databaseName}_cluster`);
    const stream = await opened(client.watch([{ $match: { 'ns.db': { $in: [db.databaseName, other.databaseName] } } }], { maxAwaitTimeMS: 100 }));
    try {
      await db.collection('cluster_0').insertOne({ x: 1 });
      await other.collection('cluster_1').insertOne({ y: 2 });
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns: { db: db.databaseName, coll: 'cluster_0' } });
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns: { db: other.databaseName, coll: 'cluster_1' } });
    } finally {
      await stream.close();
      await other.dropDatabase();
    }
  });

  // "Test projection in change stream returns expected fields"
  test('applies a $project stage to the events', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'project');
    const stream = await opened(coll.watch([{ $project: { optype: '$operationType', ns: 1, newField: 'value' } }], { maxAwaitTimeMS: 100 }));
    try {
      await coll.insertOne({ _id: 1, a: 1 } as Document);
      const event = (await stream.next()) as Document;
      expect(event).toMatchObject({ optype: 'insert', ns: { db: db.databaseName, coll: coll.collectionName }, newField: 'value' });
      expect(event.fullDocument).toBeUndefined();
    } finally {
      await stream.close();
    }
  });

  // Manual, "Change Streams with Document Pre- and Post-Images": with changeStreamPreAndPostImages enabled,
  // fullDocumentBeforeChange: 'whenAvailable' gives the document before an update or delete.
  test('gives pre-images when the collection records them', async ({ mongoDatabase: { db } }) => {
    const name = `images_${++collectionCounter}`;
    await db.createCollection(name, { changeStreamPreAndPostImages: { enabled: true } });
    const coll = db.collection(name);
    await coll.insertOne({ _id: 1, v: 1 } as Document);
    const stream = await opened(coll.watch([], { fullDocumentBeforeChange: 'whenAvailable', fullDocument: 'whenAvailable', maxAwaitTimeMS: 100 }));
    try {
      await coll.updateOne({ _id: 1 } as Document, { $set: { v: 2 } });
      await coll.deleteOne({ _id: 1 } as Document);
      expect(await stream.next()).toMatchObject({ operationType: 'update', fullDocumentBeforeChange: { _id: 1, v: 1 }, fullDocument: { _id: 1, v: 2 } });
      expect(await stream.next()).toMatchObject({ operationType: 'delete', fullDocumentBeforeChange: { _id: 1, v: 2 } });
    } finally {
      await stream.close();
    }
  });
});

describe('replica-set features the stand-in refuses (docs/testing.md, divergence ledger)', () => {
  // Manual, "Read Concern snapshot": outside a transaction, reads of a snapshot session all see one point in time.
  test('snapshot sessions', async ({ mongoDatabase: mongo, mongoDatabase: { db, client } }) => {
    const coll = await freshCollection(db, 'snap');
    await coll.insertOne({ _id: 1 } as Document);
    const session = client.startSession({ snapshot: true });
    try {
      await realAnswerOrRefusal(
        mongo.target,
        () => coll.find({}, { session }).toArray(),
        (rows) => expect(rows).toEqual([{ _id: 1 }]),
      );
    } finally {
      await session.endSession();
    }
  });

  // Manual, "$changeStream → showExpandedEvents": DDL events (create, createIndexes, …).
  test('showExpandedEvents', async ({ mongoDatabase: mongo, mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, 'expanded');
    const stream = coll.watch([], { showExpandedEvents: true, maxAwaitTimeMS: 100 });
    try {
      await realAnswerOrRefusal(
        mongo.target,
        () => stream.tryNext(),
        (event) => expect(event).toBeNull(),
      );
    } finally {
      await stream.close();
    }
  });
});
