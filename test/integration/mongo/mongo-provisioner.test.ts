import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { ValidationError } from '../../../src/errors.js';
import { mapMongoError } from '../../../src/mongo/map-mongo-error.js';
import { MongoConnection } from '../../../src/mongo/mongo-connection.js';
import { mongoModels } from '../../../src/mongo/mongo-models.js';
import { MongoProvisioner } from '../../../src/mongo/mongo-provisioner.js';
import { createPlatform } from '../../../src/platform.js';
import { test } from '../../support/fixtures.js';

// The provisioner's own subject: the file starts from an empty database.
test.override('provisionMongo', false);
test.override('envOverrides', { ANALYTICS_RETENTION_DAYS: '30' });

describe('MongoProvisioner', () => {
  let provisioner: MongoProvisioner;
  test.beforeAll(async ({ mongo: m }) => {
    provisioner = m.platform.resolve(MongoProvisioner);
  });

  test('reports everything pending on an empty database, creates it, then reports no changes', async () => {
    const before = await provisioner.pending();
    expect(before).toContain('collection conversations missing');
    expect(before).toContain('index analytics_events.createdAt_ttl missing');

    const first = await provisioner.provision();
    expect(first.filter((s) => s.changed).map((s) => s.step)).toEqual(
      expect.arrayContaining([
        'collection conversations',
        'collection messages',
        'index messages.org_conversation_seq',
        'index analytics_events.createdAt_ttl',
      ]),
    );
    expect(await provisioner.pending()).toEqual([]);

    const second = await provisioner.provision();
    expect(second.length).toBeGreaterThan(0);
    expect(second.filter((s) => s.changed)).toEqual([]);
    expect((await provisioner.status()).every((c) => c.exists && c.validator === 'ok')).toBe(true);
  });

  test('creates every index with organizationId first (TTL excepted) and the TTL from retention.analyticsDays', async ({ mongo: m }) => {
    await provisioner.provision();
    const db = m.platform.resolve(MongoConnection).connection.db!;
    for (const name of ['conversations', 'messages', 'knowledge_documents', 'knowledge_chunks', 'analytics_events']) {
      const indexes = await db.collection(name).listIndexes().toArray();
      for (const index of indexes.filter((i) => i.name !== '_id_' && i.expireAfterSeconds === undefined)) {
        expect(Object.keys(index.key as object)[0], `${name}.${String(index.name)}`).toBe('organizationId');
      }
    }
    const ttl = (await db.collection('analytics_events').listIndexes().toArray()).find((i) => i.name === 'createdAt_ttl');
    expect(ttl?.expireAfterSeconds).toBe(30 * 86_400);
  });

  test('updates a changed TTL in place and reports it', async ({ mongo: m }) => {
    const other = createPlatform({ ...m.t.config, retention: { ...m.t.config.retention, analyticsDays: 7 } }, { stores: ['mongo'] });
    await other.start();
    try {
      const steps = await other.resolve(MongoProvisioner).provision();
      expect(steps.filter((s) => s.changed)).toEqual([expect.objectContaining({ step: 'index analytics_events.createdAt_ttl', changed: true })]);
      const db = other.resolve(MongoConnection).connection.db!;
      const ttl = (await db.collection('analytics_events').listIndexes().toArray()).find((i) => i.name === 'createdAt_ttl');
      expect(ttl?.expireAfterSeconds).toBe(7 * 86_400);
    } finally {
      await other.stop();
    }
    // And back to this file's configuration.
    expect((await provisioner.provision()).filter((s) => s.changed)).toHaveLength(1);
  });

  test('restores a validator that was removed (collMod) and reports it', async ({ mongo: m }) => {
    const db = m.platform.resolve(MongoConnection).connection.db!;
    await db.command({ collMod: 'messages', validator: {} });
    expect(await provisioner.pending()).toContain('validator messages missing');
    const steps = await provisioner.provision();
    expect(steps.filter((s) => s.changed).map((s) => s.step)).toEqual(['validator messages']);
  });

  test('the validator rejects a bad document inserted around the model; mapped to ValidationError', async ({ mongo: m }) => {
    await provisioner.provision();
    const { Conversation, Message } = mongoModels(m.platform.resolve(MongoConnection).connection);
    const now = new Date();
    const good = {
      _id: 'c1',
      organizationId: 'o',
      userId: 'u',
      title: 't',
      status: 'active',
      messageCount: 0,
      tokenCount: 0,
      lastSeq: 0,
      lastMessageAt: now,
      createdAt: now,
      updatedAt: now,
    };
    await Conversation.collection.insertOne({ ...good } as never);
    for (const bad of [
      { ...good, _id: 'c2', status: 'deleted' },
      { ...good, _id: 'c3', organizationId: undefined },
      { ...good, _id: 'c4', messageCount: -1 },
      { ...good, _id: 'c5', lastMessageAt: 'yesterday' },
    ]) {
      const error = await Conversation.collection.insertOne(bad as never).catch((e: unknown) => e);
      expect(mapMongoError(error)).toBeInstanceOf(ValidationError);
    }
    const error = await Message.collection
      .insertOne({ _id: 'm', organizationId: 'o', conversationId: 'c1', seq: 0, role: 'user', content: 'x', tokenCount: 0, createdAt: now } as never)
      .catch((e: unknown) => e);
    expect(mapMongoError(error)).toBeInstanceOf(ValidationError);
  });
});
