import mongoose from 'mongoose';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';

// docker-compose's and testcontainers' MongoDB are replica sets; the stand-in is one only when asked.
test.override('mongoReplicaSet', true);

/**
 * Change streams: more cases transcribed from mongodb/specifications
 * source/change-streams/tests/unified/ (the file and test named on each case;
 * the facts, not the runner's YAML), and the resume-token format and
 * per-event clusterTime from the MongoDB manual and mongod's sources. Runs
 * against the real replica set when the stack has one, else the stand-in's
 * replica-set mode.
 */

const { MongoServerError, Timestamp, UUID } = mongoose.mongo;
type Db = mongoose.mongo.Db;
type Document = mongoose.mongo.Document;
type ChangeStream = mongoose.mongo.ChangeStream;
type Collection = mongoose.mongo.Collection;

let counter = 0;
async function freshCollection(db: Db, documents: Document[] = []): Promise<Collection> {
  const name = `cs_${++counter}`;
  await db.createCollection(name);
  const coll = db.collection(name);
  if (documents.length > 0) await coll.insertMany(documents);
  return coll;
}

/** Opens a change stream now (its aggregate has run when this resolves), runs `fn`, closes it. */
async function watching(target: Collection | Db, pipeline: Document[], options: Document, fn: (stream: ChangeStream) => Promise<void>): Promise<void> {
  const stream = target.watch(pipeline, { maxAwaitTimeMS: 100, ...options });
  try {
    expect(await stream.tryNext()).toBeNull();
    await fn(stream);
  } finally {
    await stream.close();
  }
}

async function serverError(promise: Promise<unknown>): Promise<InstanceType<typeof MongoServerError>> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MongoServerError);
  return error as InstanceType<typeof MongoServerError>;
}

describe('change-streams.yml', () => {
  test('"Executing a watch helper on a Collection results in notifications for changes to the specified collection"', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    const other = db.collection(`${coll.collectionName}_other`);
    const otherDb = db.client.db(`${db.databaseName}_x`);
    try {
      await watching(coll, [], {}, async (stream) => {
        await other.insertOne({ x: 1 });
        await otherDb.collection(coll.collectionName).insertOne({ y: 2 });
        await coll.insertOne({ z: 3 });
        const event = (await stream.next()) as Document;
        expect(event).toMatchObject({ operationType: 'insert', ns: { db: db.databaseName, coll: coll.collectionName }, fullDocument: { z: 3 } });
      });
    } finally {
      await otherDb.dropDatabase();
    }
  });

  test('"The server returns change stream responses in the specified server response format" and "Test wallTime field is set in a change event"', async ({
    mongoDatabase: { db },
  }) => {
    const coll = await freshCollection(db);
    await watching(coll, [], {}, async (stream) => {
      await coll.insertOne({ x: 1 });
      const event = (await stream.next()) as Document;
      expect(event._id).toBeDefined();
      expect(event.documentKey).toEqual({ _id: (event.fullDocument as Document)._id });
      expect(event.wallTime).toBeInstanceOf(Date);
      expect(event).toMatchObject({ operationType: 'insert', ns: { db: db.databaseName, coll: coll.collectionName }, fullDocument: { x: 1 } });
    });
  });

  test('"to field is set in a rename change event" (rename over a dropped target)', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    const target = `${coll.collectionName}_renamed`;
    await watching(coll, [], {}, async (stream) => {
      await db.dropCollection(target).catch(() => false);
      await coll.rename(target);
      expect(await stream.next()).toMatchObject({
        operationType: 'rename',
        ns: { db: db.databaseName, coll: coll.collectionName },
        to: { db: db.databaseName, coll: target },
      });
    });
  });

  test('"Test unknown operationType MUST NOT err" and "Test newField added in response MUST NOT err"', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    await watching(coll, [{ $project: { operationType: 'addedInFutureMongoDBVersion', ns: 1 } }], {}, async (stream) => {
      await coll.insertOne({ _id: 1, a: 1 } as Document);
      expect(await stream.next()).toMatchObject({ operationType: 'addedInFutureMongoDBVersion', ns: { db: db.databaseName, coll: coll.collectionName } });
    });
    await watching(coll, [{ $project: { operationType: 1, ns: 1, newField: 'newFieldValue' } }], {}, async (stream) => {
      await coll.insertOne({ _id: 2, a: 1 } as Document);
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns: { db: db.databaseName, coll: coll.collectionName }, newField: 'newFieldValue' });
    });
  });

  test('"Test new structure in ns document MUST NOT err" and "Test modified structure in ns document MUST NOT err"', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    await watching(coll, [{ $project: { operationType: 'insert', 'ns.viewOn': 'db.coll' } }], {}, async (stream) => {
      await coll.insertOne({ _id: 1, a: 1 } as Document);
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns: { viewOn: 'db.coll' } });
    });
    await watching(coll, [{ $project: { operationType: 'insert', ns: { db: '$ns.db', coll: '$ns.coll', viewOn: 'db.coll' } } }], {}, async (stream) => {
      await coll.insertOne({ _id: 2, a: 1 } as Document);
      expect(await stream.next()).toMatchObject({ operationType: 'insert', ns: { db: db.databaseName, coll: coll.collectionName, viewOn: 'db.coll' } });
    });
  });

  test('"Test consecutive resume" (without the fail point): batchSize 1 delivers every event in order', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    await watching(coll, [], { batchSize: 1 }, async (stream) => {
      await coll.insertOne({ x: 1 });
      await coll.insertOne({ x: 2 });
      await coll.insertOne({ x: 3 });
      for (const x of [1, 2, 3]) expect(await stream.next()).toMatchObject({ operationType: 'insert', fullDocument: { x } });
    });
  });
});

describe('change-streams-clusterTime.yml and change-streams-errors.yml', () => {
  test('"clusterTime is present"', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    await watching(coll, [], {}, async (stream) => {
      await coll.insertOne({ _id: 1 } as Document);
      const event = (await stream.next()) as Document;
      expect(event).toMatchObject({ ns: { db: db.databaseName, coll: coll.collectionName } });
      expect(event.clusterTime).toBeInstanceOf(Timestamp);
    });
  });

  test('"Change Stream should error when an invalid aggregation stage is passed in" (40324)', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    const stream = coll.watch([{ $unsupported: 'foo' }]);
    try {
      expect((await serverError(stream.tryNext())).code).toBe(40324);
    } finally {
      await stream.close();
    }
  });

  test('"Change Stream should error when _id is projected out" (280)', async ({ mongoDatabase: { db } }) => {
    const coll = await freshCollection(db);
    await watching(coll, [{ $project: { _id: 0 } }], {}, async (stream) => {
      await coll.insertOne({ z: 3 });
      expect((await serverError(stream.next())).code).toBe(280);
    });
  });
});

describe('change-streams-pre_and_post_images.yml', () => {
  /** One case of the file: collMod sets changeStreamPreAndPostImages, then updateOne {_id: 1} $set {x: 1} is watched. */
  async function imagesCase(db: Db, enabled: boolean, options: Document): Promise<Document | InstanceType<typeof MongoServerError>> {
    const coll = await freshCollection(db, [{ _id: 1 }]);
    await db.command({ collMod: coll.collectionName, changeStreamPreAndPostImages: { enabled } });
    let result: Document | InstanceType<typeof MongoServerError> | undefined;
    await watching(coll, [], options, async (stream) => {
      await coll.updateOne({ _id: 1 } as Document, { $set: { x: 1 } });
      result = await stream.next().catch((e: unknown) => {
        if (e instanceof MongoServerError) return e;
        throw e;
      });
    });
    return result!;
  }

  const cases: Array<[string, boolean, Document, (result: Document | InstanceType<typeof MongoServerError>) => void]> = [
    [
      'fullDocument:whenAvailable with changeStreamPreAndPostImages enabled',
      true,
      { fullDocument: 'whenAvailable' },
      (r) => expect(r).toMatchObject({ operationType: 'update', fullDocument: { _id: 1, x: 1 } }),
    ],
    [
      'fullDocument:whenAvailable with changeStreamPreAndPostImages disabled',
      false,
      { fullDocument: 'whenAvailable' },
      (r) => expect(r).toMatchObject({ operationType: 'update', fullDocument: null }),
    ],
    [
      'fullDocument:required with changeStreamPreAndPostImages enabled',
      true,
      { fullDocument: 'required' },
      (r) => expect(r).toMatchObject({ operationType: 'update', fullDocument: { _id: 1, x: 1 } }),
    ],
    [
      'fullDocument:required with changeStreamPreAndPostImages disabled',
      false,
      { fullDocument: 'required' },
      (r) => expect(r).toBeInstanceOf(MongoServerError),
    ],
    [
      'fullDocumentBeforeChange:whenAvailable with changeStreamPreAndPostImages enabled',
      true,
      { fullDocumentBeforeChange: 'whenAvailable' },
      (r) => expect(r).toMatchObject({ fullDocumentBeforeChange: { _id: 1 } }),
    ],
    [
      'fullDocumentBeforeChange:whenAvailable with changeStreamPreAndPostImages disabled',
      false,
      { fullDocumentBeforeChange: 'whenAvailable' },
      (r) => expect(r).toMatchObject({ fullDocumentBeforeChange: null }),
    ],
    [
      'fullDocumentBeforeChange:required with changeStreamPreAndPostImages enabled',
      true,
      { fullDocumentBeforeChange: 'required' },
      (r) => expect(r).toMatchObject({ fullDocumentBeforeChange: { _id: 1 } }),
    ],
    [
      'fullDocumentBeforeChange:required with changeStreamPreAndPostImages disabled',
      false,
      { fullDocumentBeforeChange: 'required' },
      (r) => expect(r).toBeInstanceOf(MongoServerError),
    ],
    [
      'fullDocumentBeforeChange:off with changeStreamPreAndPostImages enabled',
      true,
      { fullDocumentBeforeChange: 'off' },
      (r) => expect(r).not.toHaveProperty('fullDocumentBeforeChange'),
    ],
    [
      'fullDocumentBeforeChange:off with changeStreamPreAndPostImages disabled',
      false,
      { fullDocumentBeforeChange: 'off' },
      (r) => expect(r).not.toHaveProperty('fullDocumentBeforeChange'),
    ],
  ];
  test.for(cases)('"%s"', async ([, enabled, options, check], { mongoDatabase: { db } }) => {
    check(await imagesCase(db, enabled, options));
  });
});

describe('resume tokens and clusterTime (MongoDB manual, "Change Events" and "Resume a Change Stream"; mongod resume_token.cpp)', () => {
  /** Upper-case hex of a Timestamp as mongod's KeyString writes it: type byte 0x82, then seconds and increment, big-endian. */
  const timestampHex = (ts: InstanceType<typeof Timestamp>): string =>
    `82${ts.t.toString(16).toUpperCase().padStart(8, '0')}${ts.i.toString(16).toUpperCase().padStart(8, '0')}`;

  async function collectionUuid(db: Db, coll: Collection): Promise<string> {
    const [info] = await db.listCollections({ name: coll.collectionName }).toArray();
    const uuid = (info as Document).info.uuid as InstanceType<typeof UUID>;
    return uuid.toHexString(false).toUpperCase();
  }

  test("an event's _id is {_data: hex} starting with its clusterTime, version 2, an event token, then the collection's UUID and {operationType, documentKey}", async ({
    mongoDatabase: { db },
  }) => {
    // The manual's example insert token: 8263…01 2B04 2C0100 29 6E 5A1004<uuid> 46 3C"operationType"00 3C"insert"00 46"documentKey"00 46 64"_id"00 64<oid> 00 00 04.
    const coll = await freshCollection(db);
    const uuid = await collectionUuid(db, coll);
    await watching(coll, [], {}, async (stream) => {
      const { insertedId } = await coll.insertOne({ a: 1 });
      const event = (await stream.next()) as Document;
      const token = event._id as Document;
      expect(Object.keys(token)).toEqual(['_data']);
      const data = token._data as string;
      expect(data).toMatch(/^[0-9A-F]+$/);
      const hex = (text: string): string => Buffer.from(text).toString('hex').toUpperCase();
      const clusterTime = timestampHex(event.clusterTime as InstanceType<typeof Timestamp>);
      const header = `${clusterTime}2B04` + '2C0100' + '29' + '6E' + `5A1004${uuid}`; // version 2, tokenType 128, txnOpIndex 0, fromInvalidate false, UUID
      const operationType = `3C${hex('operationType')}00` + `3C${hex('insert')}00`; // string field: type, name, NUL, type, value, NUL
      const documentKey = `46${hex('documentKey')}00` + `46` + `64${hex('_id')}00` + `64${insertedId.toHexString().toUpperCase()}` + '00';
      expect(data).toBe(`${header}46${operationType}${documentKey}00` + '04');
    });
  });

  test("the events of one transaction share the commit's clusterTime and carry lsid and txnNumber; each has its own token", async ({
    mongoDatabase: { db },
  }) => {
    // Manual, "Change Events" → clusterTime: "If the operation is part of a multi-document transaction, the associated
    // change stream notifications will have the same clusterTime value, namely the time when the transaction was committed."
    const coll = await freshCollection(db);
    await watching(coll, [], {}, async (stream) => {
      await coll.insertOne({ before: true });
      const session = db.client.startSession();
      try {
        await session.withTransaction(async () => {
          await coll.insertOne({ t: 1 }, { session });
          await coll.insertOne({ t: 2 }, { session });
          await coll.updateOne({ t: 1 }, { $set: { u: 1 } }, { session });
        });
      } finally {
        await session.endSession();
      }
      const before = (await stream.next()) as Document;
      const events = [(await stream.next()) as Document, (await stream.next()) as Document, (await stream.next()) as Document];
      expect(events.map((e) => e.operationType)).toEqual(['insert', 'insert', 'update']);
      const [first] = events;
      for (const event of events) {
        expect(event.clusterTime).toEqual(first!.clusterTime);
        expect(event.txnNumber).toBeDefined();
        expect(event.lsid).toBeDefined();
      }
      expect(before.clusterTime).not.toEqual(first!.clusterTime);
      expect(before.txnNumber).toBeUndefined();
      expect(new Set(events.map((e) => (e._id as Document)._data)).size).toBe(3);
      // Resuming after the second event of the transaction continues with the third.
      const resumed = coll.watch([], { resumeAfter: events[1]!._id as Document, maxAwaitTimeMS: 100 });
      try {
        expect(await resumed.next()).toMatchObject({ operationType: 'update', updateDescription: { updatedFields: { u: 1 } } });
      } finally {
        await resumed.close();
      }
    });
  });

  test('an invalidate event cannot be resumed with resumeAfter (260) but can be with startAfter', async ({ mongoDatabase: { db } }) => {
    // Manual, "Resume a Change Stream" → startAfter: "Unlike resumeAfter, startAfter can resume notifications after an invalidate event".
    const coll = await freshCollection(db);
    let invalidate: Document | undefined;
    await watching(coll, [], {}, async (stream) => {
      await coll.drop();
      expect(await stream.next()).toMatchObject({ operationType: 'drop' });
      invalidate = (await stream.next()) as Document;
      expect(invalidate).toMatchObject({ operationType: 'invalidate' });
    });
    const again = db.collection(coll.collectionName);
    const refused = again.watch([], { resumeAfter: invalidate!._id as Document });
    try {
      expect((await serverError(refused.tryNext())).code).toBe(260);
    } finally {
      await refused.close();
    }
    const started = again.watch([], { startAfter: invalidate!._id as Document, maxAwaitTimeMS: 100 });
    try {
      await started.tryNext();
      await again.insertOne({ after: 1 });
      expect(await started.next()).toMatchObject({ operationType: 'insert', fullDocument: { after: 1 } });
    } finally {
      await started.close();
    }
  });
});

describe("updateDescription as mongod's update log writes it (src/mongo/db/update/*_node.cpp, v2_log_builder.cpp)", () => {
  // ModifierNode::logUpdate logs the whole field an operator names ($pull, $pullAll, $pop: the new array);
  // PushNode logs a pure append as `arr.<index>`; UnsetNode on an array index logs `arr.<i>: null`, elsewhere a removal;
  // a $set that creates missing parents logs the topmost created field (logCreatedField); $rename is an unset plus a set.
  const cases: Array<[string, Document, Document, Document]> = [
    ['$pull', { $pull: { arr: 2 } }, { arr: [1, 3] }, { removedFields: [] }],
    ['$pullAll', { $pullAll: { arr: [1, 3] } }, { arr: [2, 2] }, { removedFields: [] }],
    ['$pop', { $pop: { arr: 1 } }, { arr: [1, 2, 3] }, { removedFields: [] }],
    ['$rename', { $rename: { a: 'b' } }, { b: 1 }, { removedFields: ['a'] }],
    ['$unset of an array index', { $unset: { 'arr.0': '' } }, { 'arr.0': null }, { removedFields: [] }],
    ['$push (an append)', { $push: { arr: 9 } }, { 'arr.4': 9 }, { removedFields: [] }],
    ['$set creating parents', { $set: { 'nested.y.z': 1 } }, { 'nested.y': { z: 1 } }, { removedFields: [] }],
    ['$unset of a field', { $unset: { 'nested.x': '' } }, {}, { removedFields: ['nested.x'] }],
  ];
  test.for(cases)('%s', async ([, update, updatedFields, rest], { mongoDatabase: { db } }) => {
    const coll = await freshCollection(db, [{ _id: 1, arr: [1, 2, 3, 2], a: 1, nested: { x: 1 } }]);
    await watching(coll, [], {}, async (stream) => {
      await coll.updateOne({ _id: 1 } as Document, update);
      const event = (await stream.next()) as Document;
      expect(event.updateDescription).toEqual({ updatedFields, truncatedArrays: [], ...rest });
    });
  });
});
