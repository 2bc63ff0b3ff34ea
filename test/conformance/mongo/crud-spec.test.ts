import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { useMongoDatabase } from './mongo-target.js';

/**
 * Cases transcribed (as facts, not code) from the MongoDB drivers' unified CRUD
 * specification tests, mongodb/specifications `source/crud/tests/unified/`:
 * the initial data, the operation and the outcome a real server gives. Only
 * cases within what the stand-in claims to support are taken (no server ≥ 8.0
 * features such as clientBulkWrite, no command-monitoring expectations).
 */

const { Binary, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } = mongoose.mongo;
type Document = mongoose.mongo.Document;

const mongo = useMongoDatabase('conf_crud_spec');
let db: mongoose.mongo.Db;
let counter = 0;

beforeAll(() => {
  ({ db } = mongo);
});

async function seeded(documents: Document[]): Promise<mongoose.mongo.Collection> {
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

  it('UpdateOne using pipelines', async () => {
    const c = await seeded(initial);
    const result = await c.updateOne({ _id: 1 } as Document, [{ $replaceRoot: { newRoot: '$t' } }, { $addFields: { foo: 1 } }]);
    expect(result).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, u: { v: 1 }, foo: 1 },
      { _id: 2, x: 2, y: 1 },
    ]);
  });

  it('UpdateMany using pipelines', async () => {
    const c = await seeded(initial);
    const result = await c.updateMany({}, [{ $project: { x: 1 } }, { $addFields: { foo: 1 } }]);
    expect(result).toMatchObject({ matchedCount: 2, modifiedCount: 2, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, x: 1, foo: 1 },
      { _id: 2, x: 2, foo: 1 },
    ]);
  });

  it('FindOneAndUpdate using pipelines', async () => {
    const c = await seeded(initial);
    await c.findOneAndUpdate({ _id: 1 } as Document, [{ $project: { x: 1 } }, { $addFields: { foo: 1 } }]);
    expect(await c.find().toArray()).toEqual([
      { _id: 1, x: 1, foo: 1 },
      { _id: 2, x: 2, y: 1 },
    ]);
  });

  it('UpdateOne in bulk write using pipelines', async () => {
    const c = await seeded(initial);
    const result = await c.bulkWrite([
      { updateOne: { filter: { _id: 1 } as Document, update: [{ $replaceRoot: { newRoot: '$t' } }, { $addFields: { foo: 1 } }] } },
    ]);
    expect(result).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, u: { v: 1 }, foo: 1 },
      { _id: 2, x: 2, y: 1 },
    ]);
  });

  it('UpdateMany in bulk write using pipelines', async () => {
    const c = await seeded(initial);
    const result = await c.bulkWrite([{ updateMany: { filter: {}, update: [{ $project: { x: 1 } }, { $addFields: { foo: 1 } }] } }]);
    expect(result).toMatchObject({ matchedCount: 2, modifiedCount: 2, upsertedCount: 0 });
    expect(await c.find().toArray()).toEqual([
      { _id: 1, x: 1, foo: 1 },
      { _id: 2, x: 2, foo: 1 },
    ]);
  });
});

describe('find.yml', () => {
  it('find with multiple batches works', async () => {
    const c = await seeded([11, 22, 33, 44, 55, 66, 77, 88].map((x, i) => ({ _id: i + 1, x })));
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

  it.each(cases)('%s', async (_title, make, run) => {
    const c = await seeded([]);
    await run(c, make());
    // toStrictEqual: the BSON class must match too, not only the fields.
    expect(await c.find({}, RAW).toArray()).toStrictEqual([{ _id: make() }]);
  });
});
