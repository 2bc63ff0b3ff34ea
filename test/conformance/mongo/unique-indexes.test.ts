import mongoose, { Schema } from 'mongoose';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';

/** Unique, compound, partial and sparse indexes, and the errors mongod gives for them. */

const { MongoClient, MongoServerError, MongoBulkWriteError } = mongoose.mongo;
type Db = mongoose.mongo.Db;

describe('unique index', () => {
  test('rejects a duplicate insert with code 11000, keyPattern and keyValue', async ({ mongoDatabase: { db, dbName } }) => {
    const users = db.collection('users');
    expect(await users.createIndex({ email: 1 }, { unique: true })).toBe('email_1');
    await users.insertOne({ email: 'a@x.test', name: 'A' });
    const error: unknown = await users.insertOne({ email: 'a@x.test', name: 'B' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({
      code: 11000,
      keyPattern: { email: 1 },
      keyValue: { email: 'a@x.test' },
    });
    expect((error as Error).message).toBe(`E11000 duplicate key error collection: ${dbName}.users index: email_1 dup key: { email: "a@x.test" }`);
    expect(await users.countDocuments()).toBe(1);
  });

  test('reports duplicates of _id on the _id_ index', async ({ mongoDatabase: { db, dbName } }) => {
    const things = db.collection<{ _id: number; v?: number }>('things');
    await things.insertOne({ _id: 1 });
    await expect(things.insertOne({ _id: 1 })).rejects.toMatchObject({
      code: 11000,
      keyPattern: { _id: 1 },
      keyValue: { _id: 1 },
      message: `E11000 duplicate key error collection: ${dbName}.things index: _id_ dup key: { _id: 1 }`,
    });
  });

  test('insertMany ordered stops at the first duplicate; unordered reports each with its index', async ({ mongoDatabase: { db } }) => {
    const codes = db.collection('codes');
    await codes.createIndex({ code: 1 }, { unique: true });
    const ordered: unknown = await codes.insertMany([{ code: 1 }, { code: 2 }, { code: 1 }, { code: 3 }]).catch((e: unknown) => e);
    expect(ordered).toBeInstanceOf(MongoBulkWriteError);
    const orderedError = ordered as InstanceType<typeof MongoBulkWriteError>;
    expect(orderedError.code).toBe(11000);
    expect(orderedError.result.insertedCount).toBe(2);
    expect(orderedError.writeErrors).toMatchObject([{ index: 2, code: 11000 }]);
    expect(await codes.countDocuments()).toBe(2);

    const unordered: unknown = await codes.insertMany([{ code: 3 }, { code: 1 }, { code: 4 }, { code: 2 }], { ordered: false }).catch((e: unknown) => e);
    const unorderedError = unordered as InstanceType<typeof MongoBulkWriteError>;
    expect(unorderedError.result.insertedCount).toBe(2);
    const writeErrors = Array.isArray(unorderedError.writeErrors) ? unorderedError.writeErrors : [unorderedError.writeErrors];
    expect(writeErrors.map((e) => [e.index, e.code])).toEqual([
      [1, 11000],
      [3, 11000],
    ]);
    expect((await codes.find({}, { projection: { _id: 0 }, sort: { code: 1 } }).toArray()).map((d) => d.code)).toEqual([1, 2, 3, 4]);
  });

  test('rejects an upsert that would insert a duplicate', async ({ mongoDatabase: { db } }) => {
    const users = db.collection('users');
    // No document has name 'Z', so the upsert inserts {name: 'Z', email: 'a@x.test'}.
    const error: unknown = await users.updateOne({ name: 'Z' }, { $set: { email: 'a@x.test' } }, { upsert: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({ code: 11000, keyPattern: { email: 1 }, keyValue: { email: 'a@x.test' } });
    expect(await users.countDocuments({ name: 'Z' })).toBe(0);
  });

  test('rejects an update that would create a duplicate and leaves the document unchanged', async ({ mongoDatabase: { db } }) => {
    const users = db.collection('users');
    await users.insertOne({ email: 'b@x.test', name: 'B' });
    await expect(users.updateOne({ email: 'b@x.test' }, { $set: { email: 'a@x.test', name: 'changed' } })).rejects.toMatchObject({ code: 11000 });
    expect(await users.findOne({ email: 'b@x.test' }, { projection: { _id: 0 } })).toEqual({ email: 'b@x.test', name: 'B' });
    await expect(users.findOneAndUpdate({ email: 'b@x.test' }, { $set: { email: 'a@x.test' } })).rejects.toMatchObject({
      code: 11000,
      keyValue: { email: 'a@x.test' },
    });
  });

  test('treats a missing field as null: only one document may lack it', async ({ mongoDatabase: { db } }) => {
    const users = db.collection('users');
    await users.insertOne({ name: 'no email 1' });
    await expect(users.insertOne({ name: 'no email 2' })).rejects.toMatchObject({ code: 11000, keyValue: { email: null } });
  });

  test('builds fail with 11000 when existing documents already collide', async ({ mongoDatabase: { db } }) => {
    const dupes = db.collection('dupes');
    await dupes.insertMany([{ k: 1 }, { k: 1 }]);
    await expect(dupes.createIndex({ k: 1 }, { unique: true })).rejects.toMatchObject({ code: 11000 });
    expect((await dupes.indexes()).map((i) => i.name)).toEqual(['_id_']);
  });
});

describe('compound, partial and sparse unique indexes', () => {
  test('compound unique allows repeats of one field but not of the pair', async ({ mongoDatabase: { db, dbName } }) => {
    const members = db.collection('members');
    expect(await members.createIndex({ orgId: 1, userId: 1 }, { unique: true })).toBe('orgId_1_userId_1');
    await members.insertMany([
      { orgId: 'o1', userId: 'u1' },
      { orgId: 'o1', userId: 'u2' },
      { orgId: 'o2', userId: 'u1' },
    ]);
    await expect(members.insertOne({ orgId: 'o1', userId: 'u2', role: 'x' })).rejects.toMatchObject({
      code: 11000,
      keyPattern: { orgId: 1, userId: 1 },
      keyValue: { orgId: 'o1', userId: 'u2' },
      message: `E11000 duplicate key error collection: ${dbName}.members index: orgId_1_userId_1 dup key: { orgId: "o1", userId: "u2" }`,
    });
  });

  test('partial unique only constrains documents matching partialFilterExpression', async ({ mongoDatabase: { db } }) => {
    const slugs = db.collection('slugs');
    await slugs.createIndex({ slug: 1 }, { unique: true, partialFilterExpression: { deletedAt: { $exists: false } } });
    await slugs.insertOne({ slug: 'home' });
    await slugs.insertOne({ slug: 'home', deletedAt: new Date() });
    await slugs.insertOne({ slug: 'home', deletedAt: new Date() });
    await expect(slugs.insertOne({ slug: 'home' })).rejects.toMatchObject({ code: 11000, keyValue: { slug: 'home' } });
    // Soft-deleting the live one frees the slug.
    await slugs.updateOne({ slug: 'home', deletedAt: { $exists: false } }, { $set: { deletedAt: new Date() } });
    await slugs.insertOne({ slug: 'home' });
    expect(await slugs.countDocuments({ slug: 'home' })).toBe(4);
    const [, spec] = await slugs.indexes();
    expect(spec).toMatchObject({ name: 'slug_1', unique: true, partialFilterExpression: { deletedAt: { $exists: false } } });
  });

  test('sparse unique ignores documents without the field', async ({ mongoDatabase: { db } }) => {
    const handles = db.collection('handles');
    await handles.createIndex({ handle: 1 }, { unique: true, sparse: true });
    await handles.insertMany([{ n: 1 }, { n: 2 }, { handle: 'x' }]);
    await expect(handles.insertOne({ handle: 'x' })).rejects.toMatchObject({ code: 11000 });
  });

  test('unique on an array field indexes each element (multikey)', async ({ mongoDatabase: { db } }) => {
    const aliases = db.collection('aliases');
    await aliases.createIndex({ names: 1 }, { unique: true });
    await aliases.insertOne({ names: ['a', 'b'] });
    await aliases.insertOne({ names: ['c'] });
    await expect(aliases.insertOne({ names: ['d', 'b'] })).rejects.toMatchObject({ code: 11000, keyValue: { names: 'b' } });
  });

  test('considers 1, 1.0 and NumberLong(1) the same key', async ({ mongoDatabase: { db } }) => {
    const nums = db.collection('nums');
    await nums.createIndex({ v: 1 }, { unique: true });
    await nums.insertOne({ v: 1 });
    await expect(nums.insertOne({ v: new mongoose.mongo.Double(1) })).rejects.toMatchObject({ code: 11000 });
    await expect(nums.insertOne({ v: mongoose.mongo.Long.fromNumber(1) })).rejects.toMatchObject({ code: 11000 });
  });
});

describe('index management', () => {
  test('lists, conflicts on and drops indexes like mongod', async ({ mongoDatabase: { db } }) => {
    const coll = db.collection('managed');
    await coll.createIndex({ a: 1 }, { name: 'a_idx' });
    await coll.createIndex({ b: -1, c: 1 });
    await coll.createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
    // Same spec again is a no-op.
    expect(await coll.createIndex({ a: 1 }, { name: 'a_idx' })).toBe('a_idx');
    const indexes = await coll.indexes();
    expect(indexes.map((i) => [i.name, i.key])).toEqual([
      ['_id_', { _id: 1 }],
      ['a_idx', { a: 1 }],
      ['b_-1_c_1', { b: -1, c: 1 }],
      ['at_1', { at: 1 }],
    ]);
    expect(indexes[3]).toMatchObject({ expireAfterSeconds: 3600 });
    // Same key, another name: IndexOptionsConflict (85).
    await expect(coll.createIndex({ a: 1 }, { name: 'other' })).rejects.toMatchObject({ code: 85, codeName: 'IndexOptionsConflict' });
    // Same name, another key: IndexKeySpecsConflict (86).
    await expect(coll.createIndex({ z: 1 }, { name: 'a_idx' })).rejects.toMatchObject({ code: 86, codeName: 'IndexKeySpecsConflict' });
    // Same (auto-generated) name and key with other options, e.g. adding `unique` later: 86 as well.
    await expect(coll.createIndex({ b: -1, c: 1 }, { unique: true })).rejects.toMatchObject({ code: 86 });
    await coll.dropIndex('b_-1_c_1');
    await expect(coll.dropIndex('nope')).rejects.toMatchObject({ code: 27, codeName: 'IndexNotFound' });
    await expect(coll.dropIndex('_id_')).rejects.toMatchObject({ code: 72, codeName: 'InvalidOptions' });
    await coll.dropIndexes();
    expect((await coll.indexes()).map((i) => i.name)).toEqual(['_id_']);
    await expect(db.collection('never_created').indexes()).rejects.toMatchObject({ code: 26, codeName: 'NamespaceNotFound' });
  });

  test('mongoose syncIndexes creates missing and drops stale indexes', async ({ mongoDatabase: { target, dbName } }) => {
    const conn = await mongoose.createConnection(target.uri, { dbName }).asPromise();
    try {
      const schema = new Schema({ sku: { type: String, unique: true }, price: Number });
      schema.index({ price: -1 });
      const Product = conn.model('Product', schema);
      await Product.init();
      await Product.collection.createIndex({ stale: 1 });
      const dropped = await Product.syncIndexes();
      expect(dropped).toEqual(['stale_1']);
      expect((await Product.listIndexes()).map((i) => i.name).sort()).toEqual(['_id_', 'price_-1', 'sku_1']);
      await Product.create({ sku: 'A', price: 1 });
      const error: unknown = await Product.create({ sku: 'A', price: 2 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MongoServerError);
      expect(error).toMatchObject({ code: 11000, keyValue: { sku: 'A' } });
    } finally {
      await conn.close();
    }
  });
});
