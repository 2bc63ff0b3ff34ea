import mongoose from 'mongoose';
import { describe, expect } from 'vitest';
import { realAnswerOrRefusal } from './mongo-target.js';
import { test } from '../../support/fixtures.js';

/**
 * The answers a real mongod gives to what ordinary applications do, one case
 * per difference found in the stand-in (issue 18). Each case names the page of
 * the MongoDB manual (https://www.mongodb.com/docs/manual/…) or the mongod
 * source it transcribes. Runs unchanged against a real server (MONGODB_URI).
 */

const { MongoServerError, Long, Decimal128, Double, Int32, ObjectId, Timestamp } = mongoose.mongo;
type Db = mongoose.mongo.Db;
type Document = mongoose.mongo.Document;

let counter = 0;

/** A fresh collection per case. */
function fresh(db: mongoose.mongo.Db): mongoose.mongo.Collection {
  counter += 1;
  return db.collection(`c${counter}`);
}

async function serverError(call: Promise<unknown>): Promise<InstanceType<typeof MongoServerError>> {
  const error: unknown = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MongoServerError);
  return error as InstanceType<typeof MongoServerError>;
}

/** Reads without promoting BSON numbers, so int32/int64/double/decimal stay distinguishable. */
const RAW = { promoteValues: false, promoteLongs: false } as const;

describe('upsert seeds the new document from the equality fields, then applies the update', () => {
  // Manual: reference/method/db.collection.updateOne → "Upsert with operator expressions"
  // ("the update creates a base document from the equality clauses in the <query> parameter, then applies the expressions from the <update> parameter").
  test('updateOne with a range condition keeps $set and $setOnInsert', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    const result = await c.updateOne({ k: 1, n: { $gt: 5 } }, { $set: { f: 1 }, $setOnInsert: { created: true } }, { upsert: true });
    expect(result.upsertedCount).toBe(1);
    const doc = await c.findOne({}, { projection: { _id: 0 } });
    expect(doc).toEqual({ k: 1, f: 1, created: true });
  });

  test('a one-element $in seeds like an equality; a wider $in does not', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.updateOne({ k: { $in: [2] }, n: { $in: [1, 2] } }, { $set: { f: 2 } }, { upsert: true });
    expect(await c.findOne({}, { projection: { _id: 0 } })).toEqual({ k: 2, f: 2 });
  });

  test('findOneAndUpdate with upsert returns the seeded and updated document', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    const doc = await c.findOneAndUpdate({ k: 3, n: { $lt: 0 } }, { $inc: { count: 1 } }, { upsert: true, returnDocument: 'after', projection: { _id: 0 } });
    expect(doc).toEqual({ k: 3, count: 1 });
  });
});

describe('collation applies to matching, counting, grouping and unique indexes', () => {
  // Manual: reference/collation → "strength 2: secondary level of comparison … base characters and diacritics"; case is ignored.
  const people = [{ name: 'Ann' }, { name: 'ann' }, { name: 'Bob' }];
  const caseInsensitive = { locale: 'en', strength: 2 };

  test('find and countDocuments match case-insensitively at strength 2', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertMany(people.map((p) => ({ ...p })));
    expect(await c.countDocuments({ name: 'ANN' }, { collation: caseInsensitive })).toBe(2);
    expect(await c.find({ name: 'ann' }, { collation: caseInsensitive }).toArray()).toHaveLength(2);
    expect(await c.countDocuments({ name: 'ANN' })).toBe(0);
  });

  test('strength 1 also ignores diacritics', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertMany([{ name: 'résumé' }, { name: 'Resume' }, { name: 'other' }]);
    expect(await c.countDocuments({ name: 'resume' }, { collation: { locale: 'fr', strength: 1 } })).toBe(2);
  });

  test("a collection's default collation is used when the command has none", async ({ mongoDatabase: { db } }) => {
    // Manual: reference/method/db.createCollection → "collation: Specifies the default collation for the collection".
    counter += 1;
    const c = await db.createCollection(`c${counter}`, { collation: caseInsensitive });
    await c.insertMany(people.map((p) => ({ ...p })));
    expect(await c.countDocuments({ name: 'ANN' })).toBe(2);
    expect(await c.countDocuments({ name: 'ANN' }, { collation: { locale: 'simple' } })).toBe(0);
  });

  test('$group under a collation groups strings that compare equal', async ({ mongoDatabase: { db, target } }) => {
    // Manual: reference/command/aggregate → "collation … for string comparison … $group".
    const c = fresh(db);
    await c.insertMany(people.map((p) => ({ ...p })));
    await realAnswerOrRefusal(
      target,
      () => c.aggregate([{ $group: { _id: '$name', n: { $sum: 1 } } }], { collation: caseInsensitive }).toArray(),
      (groups) => expect((groups as Document[]).map((g) => g.n as number).sort()).toEqual([1, 2]),
    );
  });

  test('a strength-2 unique index refuses a value that differs only by case (E11000)', async ({ mongoDatabase: { db } }) => {
    // Manual: core/index-unique + reference/collation: index keys compare under the index collation.
    const c = fresh(db);
    await c.createIndex({ name: 1 }, { unique: true, collation: caseInsensitive });
    await c.insertOne({ name: 'Ann' });
    const error = await serverError(c.insertOne({ name: 'ann' }));
    expect(error.code).toBe(11000);
  });
});

describe('numeric types keep their BSON type', () => {
  // Manual: reference/bson-types → "Numeric types" and reference/operator/update/inc.
  test('a double with an integral value stays a double', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, d: new Double(2), i: 2 } as Document);
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(doc?.d).toBeInstanceOf(Double);
    expect(await c.countDocuments({ d: { $type: 'double' } })).toBe(1);
    expect(await c.countDocuments({ i: { $type: 'int' } })).toBe(1);
  });

  test('$inc past the int32 maximum gives an int64 (mongod SafeNum promotion)', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, n: 2147483647 } as Document);
    await c.updateOne({ _id: 1 } as Document, { $inc: { n: 1 } });
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(doc?.n).toBeInstanceOf(Long);
    expect(String(doc?.n)).toBe('2147483648');
    expect(await c.countDocuments({ n: { $type: 'long' } })).toBe(1);
  });

  test('$mul that overflows int32 gives an int64', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, n: 65536 } as Document);
    await c.updateOne({ _id: 1 } as Document, { $mul: { n: 65536 } });
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(String(doc?.n)).toBe('4294967296');
    expect(doc?.n).toBeInstanceOf(Long);
  });

  test('$inc that overflows int64 fails with BadValue (2)', async ({ mongoDatabase: { db } }) => {
    // mongod src/mongo/db/update/arithmetic_node.cpp: "Failed to apply $inc operations to current value".
    const c = fresh(db);
    await c.insertOne({ _id: 1, n: Long.MAX_VALUE } as Document);
    const error = await serverError(c.updateOne({ _id: 1 } as Document, { $inc: { n: 1 } }));
    expect(error.code).toBe(2);
    expect(error.message).toContain('Failed to apply $inc operations');
  });

  test('$inc keeps int64 values above 2^53 exact', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, n: Long.fromString('9007199254740993') } as Document);
    await c.updateOne({ _id: 1 } as Document, { $inc: { n: 2 } });
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(String(doc?.n)).toBe('9007199254740995');
  });

  test('$inc on Decimal128 stays an exact Decimal128', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, price: Decimal128.fromString('5.50') } as Document);
    await c.updateOne({ _id: 1 } as Document, { $inc: { price: Decimal128.fromString('5.49') } });
    const doc = await c.findOne({ _id: 1 } as Document);
    expect(doc?.price).toBeInstanceOf(Decimal128);
    expect(String(doc?.price)).toBe('10.99');
  });

  test('Decimal128 and int64 compare by exact value in filters', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/bson-type-comparison-order → "numeric types … compared by value"; core/shell-types
    // (Decimal128('0.1') is not the double 0.1). A double 10.99 is 10.9900000000000002131628…, so it differs from Decimal128('10.99').
    const c = fresh(db);
    await c.insertMany([
      { _id: 'dec', p: Decimal128.fromString('10.99') },
      { _id: 'dbl', p: 10.99 },
      { _id: 'big', p: Long.fromString('9007199254740993') },
      { _id: 'big-1', p: Long.fromString('9007199254740992') },
    ] as Document[]);
    const ids = async (filter: Document): Promise<string[]> => (await c.find(filter).sort({ _id: 1 }).toArray()).map((d) => String(d._id));
    expect(await ids({ p: Decimal128.fromString('10.99') })).toEqual(['dec']);
    expect(await ids({ p: Decimal128.fromString('10.990') })).toEqual(['dec']);
    expect(await ids({ p: { $in: [Decimal128.fromString('10.99'), Long.fromString('9007199254740993')] } })).toEqual(['big', 'dec']);
    expect(await ids({ p: Long.fromString('9007199254740993') })).toEqual(['big']);
    expect(await ids({ p: { $ne: Long.fromString('9007199254740993') } })).toEqual(['big-1', 'dbl', 'dec']);
    expect(await ids({ p: Decimal128.fromString('9007199254740992') })).toEqual(['big-1']);
  });

  test('$min and $max compare in BSON order and store the operand with its type', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/update/min and max ("compares … using the BSON comparison order"; a missing field is set).
    const c = fresh(db);
    await c.insertOne({ _id: 1, lo: 5, hi: 5, big: Long.fromString('9007199254740993'), s: 7 } as Document);
    await c.updateOne(
      { _id: 1 } as Document,
      {
        $min: { lo: Decimal128.fromString('4.5'), big: Long.fromString('9007199254740992'), s: 'text', fresh: Long.fromNumber(1) },
        $max: { hi: Long.fromNumber(6) },
      } as Document,
    );
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(String(doc?.lo)).toBe('4.5');
    expect(doc?.lo).toBeInstanceOf(Decimal128);
    expect(doc?.hi).toEqual(Long.fromNumber(6));
    expect(doc?.big).toEqual(Long.fromString('9007199254740992'));
    // Numbers sort before strings, so $min keeps the number.
    expect(doc?.s).toEqual(new Int32(7));
    expect(doc?.fresh).toEqual(Long.fromNumber(1));
  });

  test('$sum of Decimal128 values is an exact Decimal128', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/aggregation/sum → result type follows the widest input type.
    const c = fresh(db);
    await c.insertMany(['1.1', '2.2'].map((v) => ({ v: Decimal128.fromString(v) })));
    const [row] = await c.aggregate([{ $group: { _id: null, total: { $sum: '$v' }, mean: { $avg: '$v' } } }]).toArray();
    expect(row?.total).toBeInstanceOf(Decimal128);
    expect(String(row?.total)).toBe('3.3');
    // Manual, aggregation/avg: Decimal128 input gives a Decimal128 average; exact quotients keep the dividend's exponent (IEEE 754 decimal).
    expect(String(row?.mean)).toBe('1.65');
  });

  test('$sum of int64 values is an int64; int32 totals past 2^31-1 become int64; doubles stay double', async ({ mongoDatabase: { db } }) => {
    // Manual, aggregation/sum "Result Type": int overflow → long, long overflow → double, any double → double.
    const c = fresh(db);
    await c.insertMany([
      { l: Long.fromNumber(2), i: 2147483647, f: 1.5, s: 'x' },
      { l: Long.fromNumber(3), i: 1, f: 1.5 },
    ]);
    const [row] = await c
      .aggregate(
        [{ $group: { _id: null, l: { $sum: '$l' }, i: { $sum: '$i' }, f: { $sum: '$f' }, s: { $sum: '$s' }, avgS: { $avg: '$s' }, avgL: { $avg: '$l' } } }],
        RAW,
      )
      .toArray();
    expect(row?.l).toEqual(Long.fromNumber(5));
    expect(row?.i).toEqual(Long.fromNumber(2147483648));
    expect(row?.f).toEqual(new Double(3));
    // Non-numeric values are ignored: $sum of none is 0 (int), $avg of none is null; $avg of integers is a double.
    expect(row?.s).toEqual(new Int32(0));
    expect(row?.avgS).toBeNull();
    expect(row?.avgL).toEqual(new Double(2.5));
  });

  test('refuses stages after such a $group that drop its _id (the stand-in could not keep the exact type)', async ({ mongoDatabase: { db, target } }) => {
    const c = fresh(db);
    await c.insertMany([{ v: Long.fromNumber(2) }, { v: Long.fromNumber(3) }]);
    await realAnswerOrRefusal(
      target,
      () => c.aggregate([{ $group: { _id: null, total: { $sum: '$v' } } }, { $project: { _id: 0, total: 1 } }], { promoteLongs: false }).toArray(),
      (rows) => expect(rows).toEqual([{ total: Long.fromNumber(5) }]),
    );
  });
});

describe('update operators on values of the wrong type fail', () => {
  // mongod src/mongo/db/update/{arithmetic,push,add_to_set,pop,pull}_node.cpp.
  test('$inc and $mul on a string fail with TypeMismatch (14)', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, s: 'x' } as Document);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $inc: { s: 1 } }))).code).toBe(14);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $mul: { s: 2 } }))).code).toBe(14);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $inc: { n: 'one' } } as Document))).code).toBe(14);
    expect(await c.findOne({ _id: 1 } as Document)).toEqual({ _id: 1, s: 'x' });
  });

  test('$push and $addToSet onto a non-array fail with BadValue (2)', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, tags: 'a' } as Document);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $push: { tags: 'b' } } as Document))).code).toBe(2);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $addToSet: { tags: 'b' } } as Document))).code).toBe(2);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $pull: { tags: 'a' } } as Document))).code).toBe(2);
  });

  test('$pop on a non-array fails with TypeMismatch (14); $set through a scalar with PathNotViable (28)', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, tags: 'a', n: 1 } as Document);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $pop: { tags: 1 } } as Document))).code).toBe(14);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $set: { 'n.x': 1 } }))).code).toBe(28);
  });

  test('operators on positional paths keep BSON types and fail on wrong types like plain paths', async ({ mongoDatabase: { db } }) => {
    // Manual: update/positional, update/positional-all, update/positional-filtered; mongod's arithmetic_node.cpp (SafeNum
    // promotion) and push_node.cpp apply to each element a positional path names.
    const c = fresh(db);
    await c.insertOne({
      _id: 1,
      items: [
        { sku: 'a', qty: 2147483647, price: Decimal128.fromString('1.10'), name: 'x', tags: 't' },
        { sku: 'b', qty: 1 },
      ],
    } as Document);
    await c.updateOne({ _id: 1, 'items.sku': 'a' } as Document, { $inc: { 'items.$.qty': 1, 'items.$.price': Decimal128.fromString('0.01') } } as Document);
    await c.updateOne({ _id: 1 } as Document, { $inc: { 'items.$[x].qty': 10 } } as Document, { arrayFilters: [{ 'x.sku': 'b' }] });
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(doc?.items[0].qty).toEqual(Long.fromNumber(2147483648));
    expect(String(doc?.items[0].price)).toBe('1.11');
    expect(doc?.items[1].qty).toEqual(new Int32(11));
    expect((await serverError(c.updateOne({ _id: 1, 'items.sku': 'a' } as Document, { $inc: { 'items.$.name': 1 } } as Document))).code).toBe(14);
    expect((await serverError(c.updateOne({ _id: 1, 'items.sku': 'a' } as Document, { $push: { 'items.$.tags': 'u' } } as Document))).code).toBe(2);
    // Manual, update/positional: the query must match an array element for `$` to point at.
    const unmatched = await serverError(c.updateOne({ _id: 1 } as Document, { $inc: { 'items.$.qty': 1 } } as Document));
    expect(unmatched).toMatchObject({ code: 2, message: 'The positional operator did not find the match needed from the query.' });
  });

  test('$rename, $push $each, $pullAll and $bit refuse bad arguments and targets with BadValue (2)', async ({ mongoDatabase: { db, target } }) => {
    // mongod src/mongo/db/update/rename_node.cpp (must be a string, must differ, not on the same path, not through an array),
    // push_node.cpp ($each must be an array), pull_all_node.cpp (array argument), bit_node.cpp (integral target only).
    const c = fresh(db);
    await c.insertOne({ _id: 1, a: 1, arr: [1, 2], d: 1.5, n: 5 } as Document);
    const code = async (update: Document): Promise<number> => (await serverError(c.updateOne({ _id: 1 } as Document, update))).code as number;
    expect(await code({ $rename: { a: 'a' } })).toBe(2);
    expect(await code({ $rename: { a: 5 } })).toBe(2);
    expect(await code({ $rename: { a: 'a.b' } })).toBe(2);
    expect(await code({ $rename: { 'arr.0': 'b' } })).toBe(2);
    expect(await code({ $push: { arr: { $each: 'x' } } })).toBe(2);
    expect(await code({ $pullAll: { arr: 1 } })).toBe(2);
    expect(await code({ $bit: { d: { and: 1 } } })).toBe(2);
    expect(await c.findOne({ _id: 1 } as Document)).toEqual({ _id: 1, a: 1, arr: [1, 2], d: 1.5, n: 5 });
    await c.updateOne({ _id: 1 } as Document, { $bit: { n: { and: 4 } }, $mul: { fresh: 2.5 } });
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(doc?.n).toEqual(new Int32(4));
    // Manual, update/mul: a missing field is set to zero of the multiplier's numeric type.
    expect(doc?.fresh).toEqual(new Double(0));
  });

  test('two operators on the same path conflict (ConflictingUpdateOperators, 40)', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/update → "you cannot update the same field with multiple operators".
    const c = fresh(db);
    await c.insertOne({ _id: 1, a: 1 } as Document);
    const error = await serverError(c.updateOne({ _id: 1 } as Document, { $set: { a: 2 }, $inc: { a: 1 } }));
    expect(error.code).toBe(40);
    expect((await serverError(c.updateOne({ _id: 1 } as Document, { $set: { 'a.b': 2 }, $unset: { a: '' } }))).code).toBe(40);
  });

  test('$addToSet compares embedded documents field by field, in order', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/update/addToSet → "field order matters" for documents.
    const c = fresh(db);
    await c.insertOne({ _id: 1, arr: [{ a: 1, b: 2 }] } as Document);
    await c.updateOne({ _id: 1 } as Document, { $addToSet: { arr: { b: 2, a: 1 } } } as Document);
    await c.updateOne({ _id: 1 } as Document, { $addToSet: { arr: { a: 1, b: 2 } } } as Document);
    expect((await c.findOne({ _id: 1 } as Document))?.arr).toEqual([
      { a: 1, b: 2 },
      { b: 2, a: 1 },
    ]);
  });

  test('$currentDate with $type timestamp stores a Timestamp', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/update/currentDate.
    const c = fresh(db);
    await c.insertOne({ _id: 1 } as Document);
    await c.updateOne({ _id: 1 } as Document, { $currentDate: { ts: { $type: 'timestamp' }, at: true } } as Document);
    const doc = await c.findOne({ _id: 1 } as Document);
    expect(doc?.ts).toBeInstanceOf(Timestamp);
    expect(doc?.at).toBeInstanceOf(Date);
  });

  test('an update that grows a document past 16 MiB fails with 17419', async ({ mongoDatabase: { db } }) => {
    // mongod src/mongo/db/update/update_driver.cpp / document size check: "Resulting document after update is larger than 16777216".
    const c = fresh(db);
    await c.insertOne({ _id: 1, pad: 'y'.repeat(1000) } as Document);
    const error = await serverError(c.updateOne({ _id: 1 } as Document, { $set: { big: 'x'.repeat(16 * 1024 * 1024 - 500) } }));
    expect(error.code).toBe(17419);
  });
});

describe('projection', () => {
  // Manual: reference/operator/projection/slice, reference/operator/projection/positional, "Projection Restrictions".
  test('a $slice-only projection keeps every other field', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, a: [1, 2, 3, 4], b: 'kept' } as Document);
    expect(await c.findOne({ _id: 1 } as Document, { projection: { a: { $slice: 2 } } })).toEqual({ _id: 1, a: [1, 2], b: 'kept' });
    expect(await c.findOne({ _id: 1 } as Document, { projection: { a: { $slice: -1 } } })).toEqual({ _id: 1, a: [4], b: 'kept' });
  });

  test('the positional projection returns the first matching element', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, grades: [80, 85, 90, 95], name: 'x' } as Document);
    expect(await c.findOne({ grades: { $gte: 85 } }, { projection: { 'grades.$': 1 } })).toEqual({ _id: 1, grades: [85] });
    expect(await c.findOne({ _id: 1, grades: { $gt: 90 } } as Document, { projection: { 'grades.$': 1, name: 1 } })).toEqual({
      _id: 1,
      grades: [95],
      name: 'x',
    });
    expect(await c.findOne({ _id: 1 } as Document, { projection: { grades: { $slice: [1, 2] } } })).toEqual({ _id: 1, grades: [85, 90], name: 'x' });
  });

  test('mixing inclusion and exclusion fails with 31254', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertOne({ _id: 1, a: 1, b: 2 } as Document);
    expect((await serverError(c.find({}, { projection: { a: 1, b: 0 } }).toArray())).code).toBe(31254);
  });
});

describe('BSON comparison order', () => {
  // Manual: reference/bson-type-comparison-order.
  test('sorts an array field by its smallest element ascending and largest descending', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertMany([
      { _id: 'A', v: [1, 10] },
      { _id: 'B', v: 5 },
      { _id: 'C', v: [3, 4] },
    ] as Document[]);
    expect((await c.find().sort({ v: 1 }).toArray()).map((d) => String(d._id))).toEqual(['A', 'C', 'B']);
    expect((await c.find().sort({ v: -1 }).toArray()).map((d) => String(d._id))).toEqual(['A', 'B', 'C']);
  });

  test('orders mixed types: null < numbers < strings < ObjectId < booleans < dates', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertMany([
      { _id: 'date', x: new Date(0) },
      { _id: 'bool', x: true },
      { _id: 'oid', x: new ObjectId() },
      { _id: 'string', x: 'a' },
      { _id: 'number', x: 1 },
      { _id: 'null', x: null },
    ] as Document[]);
    expect((await c.find().sort({ x: 1 }).toArray()).map((d) => String(d._id))).toEqual(['null', 'number', 'string', 'oid', 'bool', 'date']);
  });

  test('range operators compare within one type bracket only', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/bson-type-comparison-order → "comparison operators only perform comparisons on documents
    // where the BSON type of the target field matches the type of the query operand" (numbers form one bracket).
    const c = fresh(db);
    await c.insertMany([
      { _id: 'int', v: 5 },
      { _id: 'long', v: Long.fromNumber(7) },
      { _id: 'string', v: 'z' },
      { _id: 'null', v: null },
      { _id: 'date', v: new Date(0) },
    ] as Document[]);
    const ids = async (filter: Document): Promise<string[]> => (await c.find(filter).sort({ _id: 1 }).toArray()).map((d) => String(d._id));
    expect(await ids({ v: { $gt: 1 } })).toEqual(['int', 'long']);
    expect(await ids({ v: { $lt: 'zz' } })).toEqual(['string']);
    expect(await ids({ v: { $gte: null } })).toEqual(['null']);
    expect(await ids({ v: { $gt: new Date(-1) } })).toEqual(['date']);
  });

  test('$type distinguishes objectId, int and long', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/query/type.
    const c = fresh(db);
    await c.insertMany([{ v: new ObjectId() }, { v: 1 }, { v: Long.fromNumber(1) }, { v: 1.5 }]);
    expect(await c.countDocuments({ v: { $type: 'objectId' } })).toBe(1);
    expect(await c.countDocuments({ v: { $type: 'int' } })).toBe(1);
    expect(await c.countDocuments({ v: { $type: 'long' } })).toBe(1);
    expect(await c.countDocuments({ v: { $type: 'number' } })).toBe(3);
    expect(await c.countDocuments({ v: { $type: 7 } })).toBe(1);
    expect(await c.countDocuments({ v: { $not: { $type: 'long' } } })).toBe(3);
    expect(await c.countDocuments({ $or: [{ v: { $type: 'double' } }, { v: { $type: 'objectId' } }] })).toBe(2);
  });
});

describe('other commands', () => {
  test('a validation failure lists every unsatisfied rule (121 errInfo)', async ({ mongoDatabase: { db } }) => {
    // Manual: core/schema-validation/view-validation-rules → "schemaRulesNotSatisfied".
    counter += 1;
    const c = await db.createCollection(`c${counter}`, {
      validator: { $jsonSchema: { bsonType: 'object', required: ['name'], properties: { age: { bsonType: 'int', minimum: 0 } } } },
    });
    const error = await serverError(c.insertOne({ age: 'old' }));
    expect(error.code).toBe(121);
    const rules = (error.errInfo?.details as Document).schemaRulesNotSatisfied as Document[];
    expect(rules.map((r) => r.operatorName as string).sort()).toEqual(['properties', 'required']);
    expect(rules.find((r) => r.operatorName === 'required')).toMatchObject({ missingProperties: ['name'] });
    expect(rules.find((r) => r.operatorName === 'properties')).toMatchObject({ propertiesNotSatisfied: [{ propertyName: 'age' }] });
  });

  test('listIndexes and listCollections report a collation with every option filled in', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/collation → the options and their defaults (caseLevel false, caseFirst "off", strength 3,
    // numericOrdering false, alternate "non-ignorable", maxVariable "punct", normalization false, backwards false);
    // mongod reports them with the ICU collator version "57.1".
    const full = {
      locale: 'en',
      caseLevel: false,
      caseFirst: 'off',
      strength: 2,
      numericOrdering: false,
      alternate: 'non-ignorable',
      maxVariable: 'punct',
      normalization: false,
      backwards: false,
      version: '57.1',
    };
    counter += 1;
    const c = await db.createCollection(`c${counter}`, { collation: { locale: 'en', strength: 2 } });
    await c.createIndex({ name: 1 }, { collation: { locale: 'en', strength: 2 } });
    const [info] = await db.listCollections({ name: c.collectionName }).toArray();
    expect((info as Document).options.collation).toEqual(full);
    const index = (await c.listIndexes().toArray()).find((i) => i.name === 'name_1');
    expect(index?.collation).toEqual(full);
  });

  test('a capped collection keeps at most `max` documents, dropping the oldest', async ({ mongoDatabase: { db } }) => {
    // Manual: core/capped-collections → "max".
    counter += 1;
    const c = await db.createCollection(`c${counter}`, { capped: true, size: 4096, max: 2 });
    await c.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }] as Document[]);
    expect((await c.find().toArray()).map((d) => Number(d._id))).toEqual([2, 3]);
  });

  test('a hint naming no index fails with BadValue (2)', async ({ mongoDatabase: { db } }) => {
    // mongod query planner: "hint provided does not correspond to an existing index".
    const c = fresh(db);
    await c.insertOne({ a: 1 });
    const error = await serverError(c.find({ a: 1 }, { hint: 'no_such_index' }).toArray());
    expect(error.code).toBe(2);
    expect(error.message).toContain('hint provided does not correspond to an existing index');
  });

  test('$regex honours the x (extended) option', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/query/regex → option x ignores white space and # comments.
    const c = fresh(db);
    await c.insertMany([{ s: 'abc' }, { s: 'xyz' }]);
    expect(await c.countDocuments({ s: { $regex: 'a b c # letters', $options: 'x' } })).toBe(1);
  });

  test('a string $where is evaluated by a real server and refused by the stand-in', async ({ mongoDatabase: { db, target } }) => {
    // Manual: reference/operator/query/where.
    const c = fresh(db);
    await c.insertMany([{ a: 1 }, { a: 2 }]);
    await realAnswerOrRefusal(
      target,
      () => c.countDocuments({ $where: 'this.a == 1' }),
      (n) => expect(n).toBe(1),
      2,
    );
  });
});

describe('comparisons under a collation, and $regex beside one', () => {
  // Manual: reference/collation ("strength 3 … tertiary level … case and letter variants") and reference/bson-type-comparison-order
  // ("MongoDB uses the collation … for string comparisons"): $gt/$lt compare strings in the collation's (ICU) order at every strength.
  test('range operators on strings follow the collation at strength 3 (the default), not code points', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertMany(['a', 'B', 'b', 'c', 'é', 'f', 'Z'].map((s) => ({ _id: s, s })) as Document[]);
    const ids = async (filter: Document, collation?: mongoose.mongo.CollationOptions): Promise<string[]> =>
      (await c.find(filter, collation ? { collation } : {}).toArray()).map((d) => String(d._id)).sort();
    // ICU (en): a < b < B < c < e < é < f < z < Z; binary: B < Z < a < b < c < f < é.
    expect(await ids({ s: { $gte: 'b', $lt: 'c' } }, { locale: 'en' })).toEqual(['B', 'b']);
    expect(await ids({ s: { $gt: 'd', $lt: 'g' } }, { locale: 'en' })).toEqual(['f', 'é']);
    expect(await ids({ s: { $gte: 'b', $lt: 'c' } })).toEqual(['b']);
    expect(await ids({ s: { $gt: 'd', $lt: 'g' } })).toEqual(['f']);
    // Strength 1 ignores case and diacritics in ranges too: 'é' ≤ 'e'.
    expect(await ids({ s: { $lte: 'e' } }, { locale: 'en', strength: 1 })).toEqual(['B', 'a', 'b', 'c', 'é']);
  });

  test('numericOrdering and alternate shifted order ranges and sorts; string equality under them is refused by the stand-in', async ({
    mongoDatabase: { db, target },
  }) => {
    // Manual: reference/collation → numericOrdering ("compare numeric strings as numbers"), alternate "shifted" (whitespace and
    // punctuation are ignorable at strengths 1–3).
    const c = fresh(db);
    await c.insertMany(['2', '10', '9', 'a-b', 'ab', 'ac'].map((s) => ({ _id: s, s })) as Document[]);
    const numeric = { locale: 'en', numericOrdering: true };
    expect((await c.find({ s: { $gt: '9', $lt: 'a' } }, { collation: numeric }).toArray()).map((d) => d._id)).toEqual(['10']);
    expect(
      (
        await c
          .find({ s: { $lt: 'a' } }, { collation: numeric })
          .sort({ s: 1 })
          .toArray()
      ).map((d) => d._id),
    ).toEqual(['2', '9', '10']);
    const shifted = { locale: 'en', alternate: 'shifted' as const };
    expect((await c.find({ s: { $gte: 'ab', $lte: 'ab' } }, { collation: shifted }).toArray()).map((d) => String(d._id)).sort()).toEqual(['a-b', 'ab']);
    await realAnswerOrRefusal(
      target,
      () => c.find({ s: '10' }, { collation: numeric }).toArray(),
      (rows) => expect(rows).toEqual([{ _id: '10', s: '10' }]),
    );
    await realAnswerOrRefusal(
      target,
      () => c.find({ s: 'ab' }, { collation: shifted }).toArray(),
      (rows) => expect((rows as Document[]).map((d) => String(d._id)).sort()).toEqual(['a-b', 'ab']),
    );
  });

  test('collation options Intl cannot express (backwards, strength 4/5) are refused by the stand-in', async ({ mongoDatabase: { db, target } }) => {
    // Manual: reference/collation → backwards ("strings with diacritics sort from back of the string", French).
    const c = fresh(db);
    await c.insertMany(['côté', 'coté', 'côte', 'cote'].map((s) => ({ s })));
    await realAnswerOrRefusal(
      target,
      () =>
        c
          .find({}, { collation: { locale: 'fr', backwards: true }, projection: { _id: 0 } })
          .sort({ s: 1 })
          .toArray(),
      (rows) => expect((rows as Document[]).map((d) => d.s as string)).toEqual(['cote', 'côte', 'coté', 'côté']),
    );
  });

  test('$regex ignores a case-insensitive collation', async ({ mongoDatabase: { db } }) => {
    // Manual: core/index-case-insensitive → "the $regex operator is not collation-aware".
    const c = fresh(db);
    await c.insertMany([{ s: 'apple' }, { s: 'Apple' }, { s: 'APPLE pie' }]);
    const collation = { locale: 'en', strength: 2 };
    expect(await c.countDocuments({ s: { $regex: '^app' } }, { collation })).toBe(1);
    expect(await c.countDocuments({ s: /^APP/ }, { collation })).toBe(1);
    expect(await c.countDocuments({ s: { $regex: '^app', $options: 'i' } }, { collation })).toBe(3);
    expect(await c.countDocuments({ s: { $not: /^app/ } }, { collation })).toBe(2);
    // Equality beside it still folds case.
    expect(await c.countDocuments({ s: 'APPLE' }, { collation })).toBe(2);
  });
});

describe('int64 and Decimal128 in range operators, $elemMatch, $expr and pipeline arithmetic', () => {
  // Manual: reference/bson-type-comparison-order → numbers of different types compare by their exact value;
  // 2^53 + 1 is not a double, and the double 0.1 is 0.1000000000000000055511151231257827… > Decimal128('0.1').
  test('range operators compare exact values', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertMany([
      { _id: 'big', v: Long.fromString('9007199254740993') },
      { _id: 'big-1', v: Long.fromString('9007199254740992') },
      { _id: 'dec', v: Decimal128.fromString('0.1') },
      { _id: 'dbl', v: 0.1 },
    ] as Document[]);
    const ids = async (filter: Document): Promise<string[]> => (await c.find(filter).sort({ _id: 1 }).toArray()).map((d) => String(d._id));
    expect(await ids({ v: { $gt: Long.fromString('9007199254740992') } })).toEqual(['big']);
    expect(await ids({ v: { $gt: 9007199254740992 } })).toEqual(['big']);
    expect(await ids({ v: { $lt: 0.1 } })).toEqual(['dec']);
    expect(await ids({ v: { $gte: Decimal128.fromString('0.1'), $lt: 1 } })).toEqual(['dbl', 'dec']);
    expect(await ids({ v: { $gt: Decimal128.fromString('0.1'), $lt: 1 } })).toEqual(['dbl']);
  });

  test('$elemMatch compares the elements exactly', async ({ mongoDatabase: { db } }) => {
    const c = fresh(db);
    await c.insertMany([
      { _id: 1, a: [Long.fromString('9007199254740993')], items: [{ p: Decimal128.fromString('0.1') }] },
      { _id: 2, a: [Long.fromString('9007199254740992')], items: [{ p: 0.1 }] },
    ] as Document[]);
    const ids = async (filter: Document): Promise<number[]> => (await c.find(filter).sort({ _id: 1 }).toArray()).map((d) => Number(d._id));
    expect(await ids({ a: { $elemMatch: { $gt: Long.fromString('9007199254740992') } } })).toEqual([1]);
    expect(await ids({ a: { $elemMatch: { $eq: Long.fromString('9007199254740992') } } })).toEqual([2]);
    expect(await ids({ items: { $elemMatch: { p: { $lt: 0.1 } } } })).toEqual([1]);
    expect(await ids({ items: { $elemMatch: { p: Decimal128.fromString('0.1') } } })).toEqual([1]);
  });

  test('$expr over such values: exact on a real server, refused by the stand-in (115)', async ({ mongoDatabase: { db, target } }) => {
    const c = fresh(db);
    await c.insertMany([
      { _id: 1, a: Long.fromString('9007199254740993'), b: Long.fromString('9007199254740992') },
      { _id: 2, a: Long.fromString('9007199254740992'), b: Long.fromString('9007199254740992') },
    ] as Document[]);
    await realAnswerOrRefusal(
      target,
      () => c.find({ $expr: { $gt: ['$a', '$b'] } }).toArray(),
      (rows) => expect((rows as Document[]).map((d) => Number(d._id))).toEqual([1]),
    );
    // Within 2^53 the stand-in answers.
    expect(await c.countDocuments({ $expr: { $eq: ['$_id', 1] } })).toBe(1);
  });

  test('pipeline arithmetic over such values: typed on a real server, refused by the stand-in (115)', async ({ mongoDatabase: { db, target } }) => {
    // Manual: reference/operator/aggregation/add → "adding a long and a decimal gives a decimal" (result type follows the widest operand).
    const c = fresh(db);
    await c.insertOne({ _id: 1, price: Decimal128.fromString('10.10'), qty: Long.fromString('9007199254740993') } as Document);
    await realAnswerOrRefusal(
      target,
      () =>
        c
          .aggregate([{ $project: { total: { $add: ['$price', Decimal128.fromString('0.01')] }, next: { $add: ['$qty', 1] } } }], { promoteLongs: false })
          .toArray(),
      (rows) => {
        const [row] = rows as Document[];
        expect(String(row?.total)).toBe('10.11');
        expect(row?.next).toEqual(Long.fromString('9007199254740994'));
      },
    );
    await realAnswerOrRefusal(
      target,
      () => c.updateOne({ _id: 1 } as Document, [{ $set: { price: { $multiply: ['$price', 2] } } }]).then(() => c.findOne({ _id: 1 } as Document)),
      (doc) => expect(String((doc as Document | null)?.price)).toBe('20.20'),
    );
  });

  test('$pull, $pullAll, $addToSet, $push $sort, sorts and unique indexes compare numbers by exact value across types', async ({ mongoDatabase: { db } }) => {
    // Manual: update/pull ("removes all instances of a value"), update/pullAll, update/addToSet, update/sort, and
    // reference/bson-type-comparison-order: 1 equals NumberLong(1); Decimal128('0.1') is not the double 0.1; 2^53 + 1 is not 2^53.
    const c = fresh(db);
    const big = Long.fromString('9007199254740993');
    const big1 = Long.fromString('9007199254740992');
    await c.insertOne({
      _id: 1,
      a: [1, 2],
      d: [Decimal128.fromString('0.1'), 2],
      b: [big, big1],
      s: [big, big1],
      t: [Decimal128.fromString('0.1')],
    } as Document);
    await c.updateOne(
      { _id: 1 } as Document,
      {
        $pull: { a: Long.fromNumber(1), d: 0.1 },
        $pullAll: { b: [big1] },
        $push: { s: { $each: [], $sort: 1 } },
        $addToSet: { t: 0.1 },
      } as Document,
    );
    const doc = await c.findOne({ _id: 1 } as Document, { promoteLongs: false });
    expect(doc?.a).toEqual([2]);
    expect(doc?.d).toEqual([Decimal128.fromString('0.1'), 2]);
    expect(doc?.b).toEqual([big]);
    expect(doc?.s).toEqual([big1, big]);
    expect(doc?.t).toEqual([Decimal128.fromString('0.1'), 0.1]);
    const sorted = fresh(db);
    await sorted.insertMany([
      { _id: 'long2', v: Long.fromNumber(2) },
      { _id: 'int3', v: 3 },
      { _id: 'int1', v: 1 },
    ] as Document[]);
    expect((await sorted.find().sort({ v: 1 }).toArray()).map((x) => String(x._id))).toEqual(['int1', 'long2', 'int3']);
    const unique = fresh(db);
    await unique.createIndex({ v: 1 }, { unique: true });
    await unique.insertMany([{ v: Decimal128.fromString('0.1') }, { v: 0.1 }, { v: big }, { v: big1 }]);
    expect((await serverError(unique.insertOne({ v: Decimal128.fromString('1.0') }).then(() => unique.insertOne({ v: 1 })))).code).toBe(11000);
  });

  test('$max and $min compare a Decimal128 with a double exactly', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/operator/update/max → compares by the BSON comparison order (exact numeric value).
    const c = fresh(db);
    await c.insertOne({ _id: 1, hi: Decimal128.fromString('0.1'), lo: Decimal128.fromString('0.1') } as Document);
    await c.updateOne({ _id: 1 } as Document, { $max: { hi: 0.1 }, $min: { lo: 0.1 } });
    const doc = await c.findOne({ _id: 1 } as Document, RAW);
    expect(doc?.hi).toEqual(new Double(0.1));
    expect(doc?.lo).toBeInstanceOf(Decimal128);
  });
});

describe('aggregation sorts, groups and late $match stages like mongod', () => {
  test('$sort in a pipeline uses the BSON comparison order (mixed types; arrays by their smallest/largest element)', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/bson-type-comparison-order and reference/operator/aggregation/sort ("ascending sort compares the smallest
    // element of an array, descending the largest; an empty array sorts before null").
    const c = fresh(db);
    await c.insertMany([
      { _id: 'date', x: new Date(0), arr: [3, 4] },
      { _id: 'bool', x: true },
      { _id: 'oid', x: new ObjectId(), arr: [] },
      { _id: 'string', x: 'a', arr: [1, 10] },
      { _id: 'number', x: 1, arr: 5 },
      { _id: 'null', x: null },
    ] as Document[]);
    const order = async (pipeline: Document[]): Promise<string[]> => (await c.aggregate(pipeline).toArray()).map((d) => String(d._id));
    expect(await order([{ $sort: { x: 1 } }])).toEqual(['null', 'number', 'string', 'oid', 'bool', 'date']);
    expect(await order([{ $project: { x: 1 } }, { $sort: { x: -1 } }])).toEqual(['date', 'bool', 'oid', 'string', 'number', 'null']);
    expect(await order([{ $sort: { arr: -1, _id: 1 } }])).toEqual(['string', 'number', 'date', 'bool', 'null', 'oid']);
  });

  test("a first $group's $min, $max, $first and $last keep the values' BSON types and compare exactly", async ({ mongoDatabase: { db } }) => {
    // Manual: aggregation/min, max ("ignores null and missing values", BSON comparison order), first and last.
    const c = fresh(db);
    await c.insertMany([
      { _id: 1, g: 'a', v: Long.fromString('9007199254740993') },
      { _id: 2, g: 'a', v: Long.fromString('9007199254740992') },
      { _id: 3, g: 'a' },
      { _id: 4, g: 'b', v: Decimal128.fromString('0.1') },
      { _id: 5, g: 'b', v: 0.1 },
    ] as Document[]);
    const rows = await c
      .aggregate(
        [
          { $sort: { _id: 1 } },
          { $group: { _id: '$g', lo: { $min: '$v' }, hi: { $max: '$v' }, first: { $first: '$v' }, last: { $last: '$v' } } },
          { $sort: { _id: 1 } },
        ],
        { promoteLongs: false },
      )
      .toArray();
    expect(rows[0]).toEqual({
      _id: 'a',
      lo: Long.fromString('9007199254740992'),
      hi: Long.fromString('9007199254740993'),
      first: Long.fromString('9007199254740993'),
      last: null,
    });
    expect(rows[1]?.lo).toBeInstanceOf(Decimal128);
    expect(rows[1]?.hi).toBe(0.1);
  });

  test('a $match after reshaping stages over such values: exact on a real server, refused by the stand-in (115)', async ({ mongoDatabase: { db, target } }) => {
    const c = fresh(db);
    await c.insertMany([
      { _id: 1, v: Long.fromString('9007199254740993') },
      { _id: 2, v: Long.fromString('9007199254740992') },
    ] as Document[]);
    await realAnswerOrRefusal(
      target,
      () => c.aggregate([{ $project: { v: 1 } }, { $match: { v: { $gt: Long.fromString('9007199254740992') } } }]).toArray(),
      (rows) => expect((rows as Document[]).map((d) => Number(d._id))).toEqual([1]),
    );
  });

  test('a later $match compares strings under the collation', async ({ mongoDatabase: { db } }) => {
    // Manual: reference/command/aggregate → collation applies to every stage's string comparisons.
    const c = fresh(db);
    await c.insertMany([{ name: 'Ann' }, { name: 'ann' }, { name: 'Bob' }]);
    const rows = await c.aggregate([{ $project: { _id: 0, name: 1 } }, { $match: { name: 'ANN' } }], { collation: { locale: 'en', strength: 2 } }).toArray();
    expect(rows).toHaveLength(2);
  });
});
