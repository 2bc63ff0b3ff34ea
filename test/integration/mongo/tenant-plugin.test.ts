import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { TenantAccessError } from '../../../src/errors.js';
import { ConversationRepository } from '../../../src/mongo/repositories/conversation-repository.js';
import { AnalyticsRepository } from '../../../src/mongo/repositories/analytics-repository.js';
import { KnowledgeDocumentRepository } from '../../../src/mongo/repositories/knowledge-document-repository.js';
import { MongoConnection } from '../../../src/mongo/mongo-connection.js';
import { mongoModels, type MongoModels } from '../../../src/mongo/mongo-models.js';
import { allowCrossTenant } from '../../../src/mongo/tenant-plugin.js';
import { AdminScope } from '../../../src/tenancy/admin-scope.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { tenant } from '../../support/mongo-test-platform.js';
import { test } from '../../support/fixtures.js';

describe('tenant plugin', () => {
  let models: MongoModels;
  /** Collection operations mongoose handed to the driver (its debug hook sits right before the driver call). */
  const sent: string[] = [];
  test.beforeAll(async ({ mongo: m }) => {
    const connection = m.platform.resolve(MongoConnection).connection;
    connection.set('debug', (collection: string, method: string) => {
      sent.push(`${collection}.${method}`);
    });
    models = mongoModels(connection);
  });

  async function refusedBeforeTheServer(run: () => Promise<unknown>): Promise<TenantAccessError> {
    sent.length = 0;
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TenantAccessError);
    expect(sent).toEqual([]);
    return error as TenantAccessError;
  }

  test('refuses every query, update, delete, count, distinct and aggregate without organizationId — nothing reaches the server', async () => {
    const { Conversation, Message, AnalyticsEvent } = models;
    await refusedBeforeTheServer(() => Conversation.find({ userId: 'u' }).exec());
    await refusedBeforeTheServer(() => Conversation.findOne({ _id: 'x' }).exec());
    await refusedBeforeTheServer(() => Conversation.findById('x').exec());
    await refusedBeforeTheServer(() => Conversation.updateOne({ _id: 'x' }, { $set: { title: 't' } }).exec());
    await refusedBeforeTheServer(() => Conversation.updateMany({}, { $set: { title: 't' } }).exec());
    await refusedBeforeTheServer(() => Conversation.findOneAndUpdate({ _id: 'x' }, { $set: { title: 't' } }).exec());
    await refusedBeforeTheServer(() => Conversation.findOneAndDelete({ _id: 'x' }).exec());
    await refusedBeforeTheServer(() => Conversation.replaceOne({ _id: 'x' }, { title: 't' }).exec());
    await refusedBeforeTheServer(() => Message.deleteMany({ conversationId: 'x' }).exec());
    await refusedBeforeTheServer(() => Message.deleteOne({}).exec());
    await refusedBeforeTheServer(() => Message.countDocuments({}).exec());
    await refusedBeforeTheServer(() => Message.estimatedDocumentCount().exec());
    await refusedBeforeTheServer(() => Message.distinct('role').exec());
    await refusedBeforeTheServer(() => Conversation.exists({ userId: 'u' }).exec());
    await refusedBeforeTheServer(() => AnalyticsEvent.aggregate([{ $match: { type: 'x' } }]).exec());
    await refusedBeforeTheServer(() => AnalyticsEvent.aggregate([{ $group: { _id: '$organizationId' } }]).exec());
    await refusedBeforeTheServer(() => Message.bulkWrite([{ deleteMany: { filter: { conversationId: 'x' } } }]));
    await refusedBeforeTheServer(() =>
      Message.insertMany([{ _id: 'm', conversationId: 'c', seq: 1, role: 'user', content: 'x', tokenCount: 0, createdAt: new Date() }]),
    );
  });

  test('refuses filters that do not pin a single organization', async () => {
    const { Conversation, AnalyticsEvent } = models;
    await refusedBeforeTheServer(() => Conversation.find({ organizationId: { $in: ['a', 'b'] } }).exec());
    await refusedBeforeTheServer(() => Conversation.find({ organizationId: { $ne: 'a' } }).exec());
    await refusedBeforeTheServer(() => Conversation.find({ organizationId: { $exists: true } }).exec());
    await refusedBeforeTheServer(() => Conversation.find({ $or: [{ organizationId: 'a' }, { organizationId: 'b' }] }).exec());
    await refusedBeforeTheServer(() => Conversation.find({ organizationId: '' }).exec());
    await refusedBeforeTheServer(() => Conversation.updateOne({ organizationId: 'a' }, { $set: { organizationId: 'b' } }).exec());
    await refusedBeforeTheServer(() =>
      AnalyticsEvent.aggregate([{ $match: { organizationId: 'a' } }, { $lookup: { from: 'messages', localField: 'x', foreignField: 'y', as: 'z' } }]).exec(),
    );
  });

  // Issue 15, "What was seen" 5: each of these crossed or moved the boundary before the plugin became an allow-list.
  test('checks pipelines recursively: cross-collection and writing stages are refused at any depth, unknown stages too', async () => {
    const { AnalyticsEvent } = models;
    const pinned = { $match: { organizationId: 'a' } };
    const lookup = { $lookup: { from: 'analytics_events', pipeline: [{ $match: { organizationId: 'b' } }], as: 'other' } };
    for (const stage of [
      { $facet: { leak: [lookup] } },
      { $facet: { leak: [{ $unionWith: { coll: 'analytics_events', pipeline: [{ $match: { organizationId: 'b' } }] } }] } },
      {
        $facet: {
          outer: [
            { $facet: { inner: [{ $graphLookup: { from: 'analytics_events', startWith: '$x', connectFromField: 'x', connectToField: 'y', as: 'z' } }] } },
          ],
        },
      },
      { $lookup: { from: 'messages', localField: 'organizationId', foreignField: 'organizationId', as: 'm' } },
      { $unionWith: 'messages' },
      { $out: 'stolen' },
      { $merge: { into: 'conversations' } },
      { $facet: { write: [{ $merge: { into: 'conversations' } }] } },
      { $collStats: {} },
      { $someFutureStage: {} },
    ]) {
      await refusedBeforeTheServer(() => AnalyticsEvent.aggregate([pinned, stage as never]).exec());
    }
  });

  test('refuses every update that touches organizationId: any operator, pipeline updates, bulkWrite, replacements; unknown operators too', async () => {
    const { Conversation, KnowledgeChunk } = models;
    const f = { organizationId: 'a', _id: 'x' };
    // Mongoose 9 sends pipeline-style updates only with `updatePipeline: true`; the plugin refuses them either way.
    for (const op of ['$set', '$setOnInsert', '$min', '$max', '$inc', '$mul', '$unset', '$currentDate', '$rename']) {
      await refusedBeforeTheServer(() => Conversation.updateOne(f, { [op]: { organizationId: 'b' } }).exec());
    }
    await refusedBeforeTheServer(() => Conversation.updateOne(f, { $rename: { title: 'organizationId' } }).exec());
    await refusedBeforeTheServer(() => Conversation.updateOne(f, { $set: { 'organizationId.x': 1 } }).exec());
    await refusedBeforeTheServer(() => Conversation.updateOne(f, { $unknownOp: { title: 'x' } } as never).exec());
    await refusedBeforeTheServer(() => Conversation.updateOne(f, [{ $set: { organizationId: 'b' } }], { updatePipeline: true }).exec());
    await refusedBeforeTheServer(() => Conversation.updateMany(f, [{ $addFields: { organizationId: 'b' } }], { updatePipeline: true }).exec());
    await refusedBeforeTheServer(() => Conversation.updateOne(f, [{ $unset: 'organizationId' }], { updatePipeline: true }).exec());
    await refusedBeforeTheServer(() =>
      Conversation.updateOne(f, [{ $replaceWith: { $mergeObjects: ['$$ROOT', { organizationId: 'b' }] } }], { updatePipeline: true }).exec(),
    );
    await refusedBeforeTheServer(() => Conversation.findOneAndUpdate(f, { $max: { organizationId: 'zzz' } }).exec());
    await refusedBeforeTheServer(() => Conversation.replaceOne(f, { _id: 'x', organizationId: 'b', title: 't' }).exec());
    await refusedBeforeTheServer(() => Conversation.replaceOne(f, { _id: 'x', title: 't' }).exec());
    await refusedBeforeTheServer(() => Conversation.findOneAndReplace(f, { _id: 'x', organizationId: 'b', title: 't' }).exec());
    await refusedBeforeTheServer(() => Conversation.bulkWrite([{ updateOne: { filter: f, update: [{ $set: { organizationId: 'b' } }] as never } }]));
    await refusedBeforeTheServer(() => Conversation.bulkWrite([{ updateMany: { filter: f, update: { $min: { organizationId: 'b' } } } }]));
    await refusedBeforeTheServer(() => KnowledgeChunk.bulkWrite([{ replaceOne: { filter: f, replacement: { _id: 'x', organizationId: 'b' } as never } }]));
  });

  test('lets updates that leave organizationId alone through', async ({ mongo: m }) => {
    const ctx = tenant();
    const created = await m.platform.resolve(ConversationRepository).create(ctx, { title: 'before' });
    const f = { organizationId: ctx.organizationId, _id: created.id };
    expect((await models.Conversation.updateOne(f, { $set: { title: 'after' }, $max: { messageCount: 3 } }).exec()).modifiedCount).toBe(1);
    expect((await m.platform.resolve(ConversationRepository).get(ctx, created.id)).title).toBe('after');
    const facet = await models.Conversation.aggregate([{ $match: { organizationId: ctx.organizationId } }, { $facet: { n: [{ $count: 'n' }] } }]).exec();
    expect(facet).toEqual([{ n: [{ n: 1 }] }]);
  });

  test('lets pinned queries through, { $eq } included', async () => {
    sent.length = 0;
    expect(await models.Conversation.find({ organizationId: 'a' }).exec()).toEqual([]);
    expect(await models.Conversation.countDocuments({ organizationId: { $eq: 'a' } }).exec()).toBe(0);
    expect(sent).toEqual(['conversations.find', 'conversations.countDocuments']);
  });

  test('a loaded document cannot be saved into another organization', async ({ mongo: m }) => {
    const ctx = tenant();
    const created = await m.platform.resolve(ConversationRepository).create(ctx, { title: 'mine' });
    const doc = await models.Conversation.findOne({ organizationId: ctx.organizationId, _id: created.id }).exec();
    doc!.organizationId = tenant().organizationId;
    await refusedBeforeTheServer(() => doc!.save());
  });

  test('repositories refuse to run without a tenant context', async ({ mongo: m }) => {
    const conversations = m.platform.resolve(ConversationRepository);
    await refusedBeforeTheServer(() => conversations.listByUser(undefined as unknown as TenantContext));
    await refusedBeforeTheServer(() => conversations.get({ userId: 'u' } as unknown as TenantContext, 'x'));
  });

  test('repositories check the role/scope policy and name the missing permission, before the server', async ({ mongo: m }) => {
    const conversations = m.platform.resolve(ConversationRepository);
    const documents = m.platform.resolve(KnowledgeDocumentRepository);
    const analytics = m.platform.resolve(AnalyticsRepository);
    const org = tenant().organizationId;
    const viewer = tenant(org, 'viewer');
    const member = tenant(org, 'member');
    expect((await refusedBeforeTheServer(() => conversations.create(viewer, { title: 't' }))).permission).toBe('conversations:write');
    expect((await conversations.listByUser(viewer)).items).toEqual([]);
    expect((await refusedBeforeTheServer(() => documents.upsert(member, { source: 's', title: 't', content: 'c' }))).permission).toBe('knowledge:write');
    expect((await documents.list(member)).items).toEqual([]);
    expect((await refusedBeforeTheServer(() => analytics.countPerDay(member, { from: new Date(0), to: new Date() }))).permission).toBe('analytics:read');
    // An API-key context narrows its role: an admin key scoped to knowledge:read cannot write conversations.
    const key = createTenantContext({ organizationId: org, userId: member.userId, role: 'admin', scopes: ['knowledge:read'] });
    expect((await refusedBeforeTheServer(() => conversations.create(key, { title: 't' }))).permission).toBe('conversations:write');
  });

  test('cross-tenant admin operations need a real AdminScope', async ({ mongo: m }) => {
    const analytics = m.platform.resolve(AnalyticsRepository);
    const a = tenant();
    const b = tenant();
    await analytics.record(a, { type: 'login' });
    await analytics.record(b, { type: 'login', userId: a.userId });
    const forged = { actor: 'me', reason: 'because' } as unknown as AdminScope;
    await refusedBeforeTheServer(() => analytics.deleteAllForUser(forged, a.userId));
    expect(() => allowCrossTenant(models.AnalyticsEvent.find({}), forged)).toThrow(TenantAccessError);
    const scope = AdminScope.create({ actor: 'test', reason: 'gdpr export' });
    const events = [];
    for await (const e of analytics.listAllForUser(scope, a.userId)) events.push(e);
    expect(events.map((e) => e.organizationId).sort()).toEqual([a.organizationId, b.organizationId].sort());
    expect(await analytics.deleteAllForUser(scope, a.userId)).toBe(2);
    expect(await analytics.countPerDay(a, { from: new Date(0), to: new Date(Date.now() + 1000) })).toEqual([]);
  });
});
