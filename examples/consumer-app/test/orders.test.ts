import mongoose, { Schema } from 'mongoose';
import { MongoStandIn } from 'platform-data/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';

// MongoDB as a one-member replica set (like docker-compose's), so transactions and change streams work.
let mongo: MongoStandIn;
let db: mongoose.Connection;
let Stock: mongoose.Model<{ sku: string; available: number }>;
let Order: mongoose.Model<{ sku: string; quantity: number }>;

beforeAll(async () => {
  mongo = await MongoStandIn.start({ replicaSet: 'rs0' });
  db = await mongoose.createConnection(`${mongo.uri}shop?replicaSet=rs0`).asPromise();
  Stock = db.model('Stock', new Schema({ sku: String, available: Number }));
  Order = db.model('Order', new Schema({ sku: String, quantity: Number }));
  await Promise.all([Stock.createCollection(), Order.createCollection()]);
});

afterAll(async () => {
  await db?.close();
  await mongo?.stop();
});

it('places an order in a transaction, rolls back a failed one, and a change stream sees the commit', async () => {
  await Stock.create({ sku: 'lamp', available: 3 });
  const { operationTime } = await db.db!.admin().command({ ping: 1 });

  const placeOrder = (quantity: number) =>
    db.transaction(async (session) => {
      await Order.create([{ sku: 'lamp', quantity }], { session });
      const stock = await Stock.findOneAndUpdate({ sku: 'lamp', available: { $gte: quantity } }, { $inc: { available: -quantity } }, { session });
      if (!stock) throw new Error('out of stock'); // aborts: the order above is discarded
    });

  await placeOrder(2);
  await expect(placeOrder(5)).rejects.toThrow('out of stock');
  expect(await Order.countDocuments()).toBe(1);
  expect((await Stock.findOne({ sku: 'lamp' }))?.available).toBe(1);

  // Stock changes since `operationTime`, with the document as it is now.
  const changes = Stock.watch([{ $match: { operationType: 'update' } }], { fullDocument: 'updateLookup', startAtOperationTime: operationTime });
  const change = await changes.next();
  await changes.close();
  expect(change).toMatchObject({ updateDescription: { updatedFields: { available: 1 } }, fullDocument: { sku: 'lamp', available: 1 } });
});
