import mongoose from 'mongoose';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';

/**
 * Cases transcribed (as facts, not code) from the MongoDB drivers' unified CRUD
 * specification tests, mongodb/specifications `source/crud/tests/unified/`:
 * the initial data, the operation and the outcome a real server gives. Only
 * cases within what the stand-in claims to support are taken (no server ≥ 8.0
 * features such as clientBulkWrite, no command-monitoring expectations).
 */

const { Binary, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } = mongoose.mongo;
type Document = mongoose.mongo.Document;

let counter = 0;

async function seeded(db: mongoose.mongo.Db, documents: Document[]): Promise<mongoose.mongo.Collection> {
  counter += 1;
  const c = db.collection(`spec${counter}`);
  if (documents.length > 0) await c.insertMany(documents.map((d) => ({ ...d })));
  return c;
}

const RAW = { promoteValues: false, promoteLongs: false, promoteBuffers: false } as const;

describe('updateWithPipelines.yml', () => {
  const initial = [
    { _id: 1, x: 1, y: 1, t: { u: { v: 1 } } },
    { _id: 2, x: 2, y: 1 },
  ];

  test('UpdateOne using pipelines', async ({ mongoDatabase: { db } }) => {
    const c = await seeded(db, initial);
    const result = await c.updateOne({ _id: 1 } as Document, [{ $replaceRoot: { newRoot: '$t' } }, { $addFields: { foo: 1 } }]);
    expect(result).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, u: { v: 1 }, foo: 1 },
      { _id: 2, x: 2, y: 1 },
    ]);
  });

  test('UpdateMany using pipelines', async ({ mongoDatabase: { db } }) => {
    const c = await seeded(db, initial);
    const result = await c.updateMany({}, [{ $project: { x: 1 } }, { $addFields: { foo: 1 } }]);
    expect(result).toMatchObject({ matchedCount: 2, modifiedCount: 2, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, x: 1, foo: 1 },
      { _id: 2, x: 2, foo: 1 },
    ]);
  });

  test('FindOneAndUpdate using pipelines', async ({ mongoDatabase: { db } }) => {
    const c = await seeded(db, initial);
    await c.findOneAndUpdate({ _id: 1 } as Document, [{ $project: { x: 1 } }, { $addFields: { foo: 1 } }]);
    expect(await c.find().toArray()).toEqual([
      { _id: 1, x: 1, foo: 1 },
      { _id: 2, x: 2, y: 1 },
    ]);
  });

  test('UpdateOne in bulk write using pipelines', async ({ mongoDatabase: { db } }) => {
    const c = await seeded(db, initial);
    const result = await c.bulkWrite([
      { updateOne: { filter: { _id: 1 } as Document, update: [{ $replaceRoot: { newRoot: '$t' } }, { $addFields: { foo: 1 } }] } },
    ]);
    expect(result).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, u: { v: 1 }, foo: 1 },
      { _id: 2, x: 2, y: 1 },
    ]);
  });

  test('UpdateMany in bulk write using pipelines', async ({ mongoDatabase: { db } }) => {
    const c = await seeded(db, initial);
    const result = await c.bulkWrite([{ updateMany: { filter: {}, update: [{ $project: { x: 1 } }, { $addFields: { foo: 1 } }] } }]);
    expect(result).toMatchObject({ matchedCount: 2, modifiedCount: 2, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, x: 1, foo: 1 },
      { _id: 2, x: 2, foo: 1 },
    ]);
  });
});

describe('find.yml', () => {
  test('find with multiple batches works', async ({ mongoDatabase: { db } }) => {
    const c = await seeded(
      db,
      [11, 22, 33, 44, 55, 66, 77, 88].map((x, i) => ({ _id: i + 1, x })),
    );
    expect(await c.find({ _id: { $gt: 1 } } as Document, { batchSize: 2 }).toArray()).toEqual([22, 33, 44, 55, 66, 77, 88].map((x, i) => ({ _id: i + 2, x })));
  });
});

describe('create-id-types.yml', () => {
  // Each _id type, inserted by each collection-level operation, is stored with that exact type.
  const types: Array<[string, () => unknown]> = [
    ['double', () => new Double(Number.NaN)],
    ['string', () => ''],
    ['object', () => ({})],
    ['binData', () => new Binary(Buffer.alloc(0), 0)],
    ['objectId', () => new ObjectId('507f1f77bcf86cd799439011')],
    ['bool', () => true],
    ['date', () => new Date(0)],
    ['int', () => new Int32(123)],
    ['timestamp', () => new Timestamp({ t: 1, i: 1 })],
    ['long', () => Long.fromNumber(123)],
    ['decimal', () => Decimal128.fromString('123')],
    ['minKey', () => new MinKey()],
    ['maxKey', () => new MaxKey()],
  ];
  const operations: Array<[string, (c: mongoose.mongo.Collection, id: unknown) => Promise<unknown>]> = [
    ['insertOne', (c, id) => c.insertOne({ _id: id } as Document)],
    ['insertMany', (c, id) => c.insertMany([{ _id: id } as Document])],
    ['updateOne', (c, id) => c.updateOne({ _id: id } as Document, { $unset: { a: '' } }, { upsert: true })],
    ['updateMany', (c, id) => c.updateMany({ _id: id } as Document, { $unset: { a: '' } }, { upsert: true })],
    ['replaceOne', (c, id) => c.replaceOne({}, { _id: id } as Document, { upsert: true })],
    ['bulkWrite', (c, id) => c.bulkWrite([{ insertOne: { document: { _id: id } as Document } }])],
  ];
  const cases = types.flatMap(([type, make]) => operations.map(([op, run]) => [`inserting _id with type ${type} via ${op}`, make, run] as const));

  test.for(cases)('%s', async ([, make, run], { mongoDatabase: { db } }) => {
    const c = await seeded(db, []);
    await run(c, make());
    // toStrictEqual: the BSON class must match too, not only the fields.
    expect(await c.find({}, RAW).toArray()).toStrictEqual([{ _id: make() }]);
  });
});
