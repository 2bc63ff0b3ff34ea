import mongoose, { Schema, type Connection, type Model } from 'mongoose';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';

/**
 * What an ordinary mongoose application does, asserted as a real mongod
 * answers. Runs against MONGODB_URI when set, else against the stand-in.
 */

interface User {
  email: string;
  name: string;
  age: number;
  orgId?: mongoose.Types.ObjectId;
  tags: string[];
  loginCount: number;
  createdVia?: string;
}

interface Org {
  name: string;
  plan: string;
}

let conn: Connection;
let Users: Model<User>;
let Orgs: Model<Org>;

test.beforeAll(async ({ mongoDatabase: { target, dbName } }) => {
  conn = await mongoose.createConnection(target.uri, { dbName }).asPromise();
  const userSchema = new Schema<User>({
    email: { type: String, required: true, unique: true },
    name: { type: String, required: true },
    age: { type: Number, min: 0 },
    orgId: { type: Schema.Types.ObjectId, ref: 'Org' },
    tags: { type: [String], default: [] },
    loginCount: { type: Number, default: 0 },
    createdVia: String,
  });
  userSchema.index({ orgId: 1, age: -1 });
  Users = conn.model<User>('User', userSchema);
  Orgs = conn.model<Org>('Org', new Schema<Org>({ name: { type: String, required: true }, plan: String }));
  await Users.init();
  await Orgs.init();
});

test.afterAll(async () => {
  await conn?.dropDatabase().catch(() => undefined);
  await conn?.close();
});

describe('mongoose models', () => {
  let acme: mongoose.Types.ObjectId;
  let globex: mongoose.Types.ObjectId;

  test('creates the indexes the schema declares', async () => {
    const indexes = await Users.collection.indexes();
    expect(indexes.map((i) => i.name).sort()).toEqual(['_id_', 'email_1', 'orgId_1_age_-1']);
    expect(indexes.find((i) => i.name === 'email_1')).toMatchObject({ key: { email: 1 }, unique: true });
  });

  test('creates documents with defaults and reads them back', async () => {
    const [a, g] = await Orgs.create([
      { name: 'Acme', plan: 'pro' },
      { name: 'Globex', plan: 'free' },
    ]);
    acme = a!._id;
    globex = g!._id;
    const created = await Users.create({ email: 'ada@acme.test', name: 'Ada', age: 36, orgId: acme, tags: ['admin', 'dev'] });
    expect(created.loginCount).toBe(0);
    await Users.insertMany([
      { email: 'bob@acme.test', name: 'Bob', age: 25, orgId: acme, tags: ['dev'] },
      { email: 'cy@globex.test', name: 'Cy', age: 41, orgId: globex, tags: ['ops'] },
      { email: 'di@globex.test', name: 'Di', age: 19, orgId: globex, tags: [] },
      { email: 'ed@none.test', name: 'Ed', age: 30, tags: ['dev', 'ops'] },
    ]);
    const found = await Users.findById(created._id).lean();
    expect(found).toMatchObject({ email: 'ada@acme.test', name: 'Ada', age: 36, tags: ['admin', 'dev'], loginCount: 0 });
    expect(found?._id.equals(created._id)).toBe(true);
  });

  test('rejects a document that fails schema validation before it reaches the server', async () => {
    await expect(Users.create({ email: 'neg@x.test', name: 'Neg', age: -1 })).rejects.toBeInstanceOf(mongoose.Error.ValidationError);
  });

  test('finds with filter, sort, skip, limit and projection', async () => {
    const page = await Users.find({ age: { $gte: 20 } }, { name: 1, age: 1 })
      .sort({ age: -1 })
      .skip(1)
      .limit(2)
      .lean();
    expect(page.map((u) => u.name)).toEqual(['Ada', 'Ed']);
    // mongod keeps document order for included fields, _id first.
    expect(Object.keys(page[0]!)).toEqual(['_id', 'name', 'age']);
    const excluded = await Users.findOne({ email: 'bob@acme.test' }, { tags: 0, __v: 0 }).lean();
    expect(excluded && Object.keys(excluded)[0]).toBe('_id');
    expect(excluded).not.toHaveProperty('tags');
    expect(excluded).toMatchObject({ email: 'bob@acme.test', name: 'Bob', age: 25, loginCount: 0 });
    const byTag = await Users.find({ tags: 'ops' }).sort({ name: 1 }).lean();
    expect(byTag.map((u) => u.name)).toEqual(['Cy', 'Ed']);
    const byIn = await Users.find({ name: { $in: ['Di', 'Bob', 'Zed'] } })
      .sort({ name: -1 })
      .select('name -_id')
      .lean();
    expect(byIn).toEqual([{ name: 'Di' }, { name: 'Bob' }]);
    const regex = await Users.find({ email: /@globex\.test$/ })
      .sort({ age: 1 })
      .lean();
    expect(regex.map((u) => u.name)).toEqual(['Di', 'Cy']);
  });

  test('updateOne with upsert applies $setOnInsert only when inserting', async () => {
    const inserted = await Users.updateOne(
      { email: 'fay@new.test' },
      { $set: { name: 'Fay' }, $setOnInsert: { age: 22, createdVia: 'upsert' } },
      { upsert: true },
    );
    expect(inserted).toMatchObject({ acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 1 });
    expect(inserted.upsertedId).toBeInstanceOf(mongoose.Types.ObjectId);
    const updated = await Users.updateOne(
      { email: 'fay@new.test' },
      { $set: { name: 'Fay B' }, $setOnInsert: { age: 99, createdVia: 'second' } },
      { upsert: true },
    );
    expect(updated).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null });
    const fay = await Users.findOne({ email: 'fay@new.test' }).lean();
    expect(fay).toMatchObject({ email: 'fay@new.test', name: 'Fay B', age: 22, createdVia: 'upsert' });
    const noop = await Users.updateOne({ email: 'fay@new.test' }, { $set: { name: 'Fay B' } });
    expect(noop).toMatchObject({ matchedCount: 1, modifiedCount: 0 });
  });

  test('updateMany with operators, arrayFilters and a pipeline update', async () => {
    const res = await Users.updateMany({ orgId: acme }, { $inc: { loginCount: 2 }, $push: { tags: 'acme' } });
    expect(res).toMatchObject({ matchedCount: 2, modifiedCount: 2 });
    await Users.updateOne({ email: 'ed@none.test' }, { $set: { 'tags.$[t]': 'operations' } }, { arrayFilters: [{ t: 'ops' }] });
    expect((await Users.findOne({ email: 'ed@none.test' }).lean())?.tags).toEqual(['dev', 'operations']);
    await Users.collection.updateOne({ email: 'di@globex.test' }, [{ $set: { name: { $concat: ['$name', ' (', { $toString: '$age' }, ')'] } } }]);
    expect((await Users.findOne({ email: 'di@globex.test' }).lean())?.name).toBe('Di (19)');
    await Users.updateOne({ email: 'di@globex.test' }, { $set: { name: 'Di' } });
  });

  test('positional $ update uses the matched array element', async () => {
    await Users.updateOne({ email: 'ada@acme.test', tags: 'dev' }, { $set: { 'tags.$': 'developer' } });
    expect((await Users.findOne({ email: 'ada@acme.test' }).lean())?.tags).toEqual(['admin', 'developer', 'acme']);
  });

  test('findOneAndUpdate returns the document after or before the update', async () => {
    const after = await Users.findOneAndUpdate({ email: 'bob@acme.test' }, { $inc: { loginCount: 1 } }, { returnDocument: 'after' }).lean();
    expect(after?.loginCount).toBe(3);
    const before = await Users.findOneAndUpdate({ email: 'bob@acme.test' }, { $inc: { loginCount: 1 } }, { returnDocument: 'before' }).lean();
    expect(before?.loginCount).toBe(3);
    const missing = await Users.findOneAndUpdate({ email: 'nobody@x.test' }, { $set: { name: 'X' } }, { returnDocument: 'after' }).lean();
    expect(missing).toBeNull();
    const upserted = await Users.findOneAndUpdate(
      { email: 'gus@new.test' },
      { $set: { name: 'Gus' }, $setOnInsert: { age: 50 } },
      { upsert: true, returnDocument: 'after', projection: { email: 1, age: 1 } },
    ).lean();
    expect(upserted && Object.keys(upserted)).toEqual(['_id', 'email', 'age']);
    expect(upserted).toMatchObject({ email: 'gus@new.test', age: 50 });
    const oldest = await Users.findOneAndUpdate({}, { $set: { createdVia: 'oldest' } }, { sort: { age: -1 }, returnDocument: 'after' }).lean();
    expect(oldest?.email).toBe('gus@new.test');
    const removed = await Users.findOneAndDelete({ email: 'gus@new.test' }).lean();
    expect(removed?.name).toBe('Gus');
    expect(await Users.exists({ email: 'gus@new.test' })).toBeNull();
  });

  test('counts with countDocuments and estimatedDocumentCount', async () => {
    expect(await Users.countDocuments()).toBe(6);
    expect(await Users.countDocuments({ orgId: globex })).toBe(2);
    expect(await Users.countDocuments({ age: { $gt: 100 } })).toBe(0);
    expect(await Users.estimatedDocumentCount()).toBe(6);
  });

  test('distinct unwinds arrays and skips missing values', async () => {
    const tags = await Users.distinct('tags');
    expect([...tags].sort()).toEqual(['acme', 'admin', 'dev', 'developer', 'operations', 'ops']);
    const orgs = await Users.distinct('orgId');
    expect(orgs.map(String).sort()).toEqual([acme.toString(), globex.toString()].sort());
    expect(await Users.distinct('name', { age: { $lt: 20 } })).toEqual(['Di']);
  });

  test('aggregates with $match, $group, $sort and $lookup/$unwind across collections', async () => {
    const perOrg = await Users.aggregate<{ _id: mongoose.Types.ObjectId | null; n: number; avgAge: number }>([
      { $group: { _id: '$orgId', n: { $sum: 1 }, avgAge: { $avg: '$age' } } },
      { $sort: { n: -1, avgAge: 1 } },
    ]);
    expect(perOrg.map((g) => g.n)).toEqual([2, 2, 2]);
    // Ed (30) and Fay (22) have no org: avg 26; Globex 30; Acme 30.5.
    expect(perOrg.map((g) => g.avgAge)).toEqual([26, 30, 30.5]);
    expect(perOrg[0]?._id).toBeNull();
    expect(String(perOrg[1]?._id)).toBe(globex.toString());
    const joined = await Users.aggregate<{ name: string; org: { name: string; plan: string } }>([
      { $match: { orgId: { $exists: true } } },
      { $lookup: { from: Orgs.collection.collectionName, localField: 'orgId', foreignField: '_id', as: 'org' } },
      { $unwind: '$org' },
      { $project: { _id: 0, name: 1, 'org.name': 1, 'org.plan': 1 } },
      { $sort: { name: 1 } },
    ]);
    expect(joined).toEqual([
      { name: 'Ada', org: { name: 'Acme', plan: 'pro' } },
      { name: 'Bob', org: { name: 'Acme', plan: 'pro' } },
      { name: 'Cy', org: { name: 'Globex', plan: 'free' } },
      { name: 'Di', org: { name: 'Globex', plan: 'free' } },
    ]);
    const withMembers = await Orgs.aggregate<{ name: string; members: Array<{ name: string }> }>([
      {
        $lookup: {
          from: Users.collection.collectionName,
          let: { org: '$_id' },
          pipeline: [{ $match: { $expr: { $eq: ['$orgId', '$$org'] } } }, { $sort: { age: -1 } }, { $project: { _id: 0, name: 1 } }],
          as: 'members',
        },
      },
      { $project: { _id: 0, name: 1, members: 1 } },
      { $sort: { name: 1 } },
    ]);
    expect(withMembers).toEqual([
      { name: 'Acme', members: [{ name: 'Ada' }, { name: 'Bob' }] },
      { name: 'Globex', members: [{ name: 'Cy' }, { name: 'Di' }] },
    ]);
    const tagCounts = await Users.aggregate<{ _id: string; count: number }>([
      { $unwind: '$tags' },
      { $sortByCount: '$tags' },
      { $sort: { count: -1, _id: 1 } },
      { $limit: 2 },
    ]);
    expect(tagCounts).toEqual([
      { _id: 'acme', count: 2 },
      { _id: 'dev', count: 2 },
    ]);
    const [counted] = await Users.aggregate<{ adults: number }>([{ $match: { age: { $gte: 21 } } }, { $count: 'adults' }]);
    expect(counted).toEqual({ adults: 5 });
    const [faceted] = await Users.aggregate<{ young: unknown[]; total: Array<{ n: number }> }>([
      { $facet: { young: [{ $match: { age: { $lt: 23 } } }, { $project: { _id: 0, name: 1 } }, { $sort: { name: 1 } }], total: [{ $count: 'n' }] } },
    ]);
    expect(faceted).toEqual({ young: [{ name: 'Di' }, { name: 'Fay B' }], total: [{ n: 6 }] });
  });

  test('populates references with a second query', async () => {
    const users = await Users.find({ orgId: { $exists: true } })
      .sort({ name: 1 })
      .populate<{ orgId: Org }>('orgId')
      .lean();
    expect(users.map((u) => [u.name, u.orgId.name])).toEqual([
      ['Ada', 'Acme'],
      ['Bob', 'Acme'],
      ['Cy', 'Globex'],
      ['Di', 'Globex'],
    ]);
  });

  test('deletes with deleteOne and deleteMany', async () => {
    const Temp = conn.model('Temp', new Schema({ k: Number }));
    await Temp.insertMany([{ k: 1 }, { k: 2 }, { k: 2 }, { k: 3 }]);
    expect(await Temp.deleteOne({ k: 2 })).toMatchObject({ deletedCount: 1 });
    expect(await Temp.deleteMany({ k: { $gte: 2 } })).toMatchObject({ deletedCount: 2 });
    expect(await Temp.countDocuments()).toBe(1);
  });

  test('bulkWrite mixes inserts, updates, upserts and deletes', async () => {
    const Bulk = conn.model('Bulk', new Schema({ k: String, v: Number }));
    const res = await Bulk.bulkWrite([
      { insertOne: { document: { k: 'a', v: 1 } } },
      { insertOne: { document: { k: 'b', v: 2 } } },
      { updateOne: { filter: { k: 'a' }, update: { $inc: { v: 10 } } } },
      { updateOne: { filter: { k: 'c' }, update: { $set: { v: 3 } }, upsert: true } },
      { replaceOne: { filter: { k: 'b' }, replacement: { k: 'b', v: 20 } } },
      { deleteOne: { filter: { k: 'zzz' } } },
    ]);
    expect(res).toMatchObject({ insertedCount: 2, matchedCount: 2, modifiedCount: 2, upsertedCount: 1, deletedCount: 0 });
    const all = await Bulk.find({}, { _id: 0, k: 1, v: 1 }).sort({ k: 1 }).lean();
    expect(all).toEqual([
      { k: 'a', v: 11 },
      { k: 'b', v: 20 },
      { k: 'c', v: 3 },
    ]);
  });
});

describe('cursors', () => {
  test('iterates more than 101 documents through getMore', async () => {
    const Items = conn.model('Item', new Schema({ n: Number }));
    await Items.insertMany(Array.from({ length: 250 }, (_, n) => ({ n })));
    const seen: number[] = [];
    for await (const item of Items.find().sort({ n: 1 }).cursor({ batchSize: 40 })) seen.push(item.n as number);
    expect(seen).toEqual(Array.from({ length: 250 }, (_, n) => n));
    // Default batch size (101 first, then the rest) through the plain driver.
    const docs = await Items.collection.find({}, { sort: { n: -1 } }).toArray();
    expect(docs).toHaveLength(250);
    expect(docs[0]?.n).toBe(249);
    const limited = await Items.find().sort({ n: 1 }).skip(100).limit(120).lean();
    expect(limited.map((d) => d.n)).toEqual(Array.from({ length: 120 }, (_, i) => i + 100));
  });

  test('batches aggregate cursors too', async () => {
    const Items = conn.model('Item');
    const seen: number[] = [];
    for await (const doc of Items.aggregate<{ n: number }>([{ $match: { n: { $gte: 50 } } }, { $sort: { n: -1 } }, { $project: { _id: 0, n: 1 } }]).cursor({
      batchSize: 30,
    })) {
      seen.push(doc.n);
    }
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => 249 - i));
  });

  test('closes a cursor early with killCursors; a later getMore gets CursorNotFound', async () => {
    const cursor = conn.collection('items').find({}, { batchSize: 10 });
    await cursor.next();
    const id = cursor.id;
    expect(id?.isZero()).toBe(false);
    await cursor.close();
    await expect(conn.db!.command({ getMore: id, collection: 'items' })).rejects.toMatchObject({ code: 43, codeName: 'CursorNotFound' });
  });
});
