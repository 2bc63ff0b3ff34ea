import { connect, type Socket } from 'node:net';
import mongoose from 'mongoose';
import { describe, expect } from 'vitest';
import { test } from '../../support/fixtures.js';

/**
 * The wire protocol below the driver: hand-built messages on a raw socket,
 * for the paths the driver rarely or never takes (checksums, moreToCome,
 * legacy OP_QUERY). Valid against a real mongod (no auth) as well.
 */

const { BSON } = mongoose.mongo;
type Document = mongoose.mongo.BSON.Document;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;

/** A minimal wire client: sends raw messages, yields replies in order. */
class RawConnection {
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  readonly #waiters: Array<(reply: { opCode: number; responseTo: number; body: Buffer }) => void> = [];
  #nextId = 1;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 4 && this.#buffer.length >= this.#buffer.readInt32LE(0)) {
        const length = this.#buffer.readInt32LE(0);
        const message = this.#buffer.subarray(0, length);
        this.#buffer = this.#buffer.subarray(length);
        this.#waiters.shift()?.({ opCode: message.readInt32LE(12), responseTo: message.readInt32LE(8), body: message.subarray(16) });
      }
    });
  }

  static async open(uri: string): Promise<RawConnection> {
    const url = new URL(uri.replace(/^mongodb:\/\//, 'http://'));
    const socket = connect(Number(url.port || 27017), url.hostname.replace(/^\[|\]$/g, ''));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  nextReply(): Promise<{ opCode: number; responseTo: number; body: Buffer }> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Sends an OP_MSG; sections are [kind-0 body, ...kind-1 (identifier, docs)]. Returns the request id. */
  sendMsg(body: Document, options: { sequences?: Array<[string, Document[]]>; checksum?: boolean; moreToCome?: boolean } = {}): number {
    const parts: Buffer[] = [Buffer.from([0]), Buffer.from(BSON.serialize(body))];
    for (const [identifier, docs] of options.sequences ?? []) {
      const payload = Buffer.concat([Buffer.from(`${identifier}\0`), ...docs.map((d) => Buffer.from(BSON.serialize(d)))]);
      const size = Buffer.alloc(4);
      size.writeInt32LE(payload.length + 4);
      parts.push(Buffer.from([1]), size, payload);
    }
    const flags = (options.checksum ? 1 : 0) | (options.moreToCome ? 2 : 0);
    const flagBytes = Buffer.alloc(4);
    flagBytes.writeUInt32LE(flags);
    return this.#send(OP_MSG, Buffer.concat([flagBytes, ...parts]), options.checksum === true);
  }

  sendQuery(namespace: string, query: Document): number {
    const head = Buffer.alloc(4);
    const skipReturn = Buffer.alloc(8);
    skipReturn.writeInt32LE(-1, 4);
    return this.#send(OP_QUERY, Buffer.concat([head, Buffer.from(`${namespace}\0`), skipReturn, Buffer.from(BSON.serialize(query))]), false);
  }

  #send(opCode: number, payload: Buffer, checksum: boolean): number {
    const id = this.#nextId++;
    const header = Buffer.alloc(16);
    header.writeInt32LE(16 + payload.length + (checksum ? 4 : 0), 0);
    header.writeInt32LE(id, 4);
    header.writeInt32LE(0, 8);
    header.writeInt32LE(opCode, 12);
    const message = Buffer.concat([header, payload]);
    if (checksum) {
      const crc = Buffer.alloc(4);
      crc.writeUInt32LE(crc32c(message));
      this.#socket.write(Buffer.concat([message, crc]));
    } else {
      this.#socket.write(message);
    }
    return id;
  }

  close(): void {
    this.#socket.destroy();
  }
}

function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function msgBody(reply: { body: Buffer }): Document {
  // flagBits (4) + kind byte (1) + document
  return BSON.deserialize(reply.body.subarray(5));
}

describe('wire protocol', () => {
  test('answers a legacy OP_QUERY isMaster with an OP_REPLY', async ({ mongoDatabase: { target } }) => {
    const conn = await RawConnection.open(target.uri);
    try {
      const id = conn.sendQuery('admin.$cmd', { isMaster: 1, helloOk: true, client: { driver: { name: 'raw', version: '0' } } });
      const reply = await conn.nextReply();
      expect(reply.opCode).toBe(OP_REPLY);
      expect(reply.responseTo).toBe(id);
      expect(reply.body.readInt32LE(16)).toBe(1); // numberReturned
      const doc = BSON.deserialize(reply.body.subarray(20));
      expect(doc).toMatchObject({ ok: 1, ismaster: true, helloOk: true });
    } finally {
      conn.close();
    }
  });

  test('accepts OP_MSG with a CRC-32C checksum and kind-1 document sequences', async ({ mongoDatabase: { target, dbName } }) => {
    const conn = await RawConnection.open(target.uri);
    try {
      const pingId = conn.sendMsg({ ping: 1, $db: 'admin' }, { checksum: true });
      const ping = await conn.nextReply();
      expect(ping).toMatchObject({ opCode: OP_MSG, responseTo: pingId });
      expect(msgBody(ping)).toMatchObject({ ok: 1 });

      conn.sendMsg({ insert: 'seq', $db: dbName }, { sequences: [['documents', [{ _id: 1 }, { _id: 2 }, { _id: 3 }]]] });
      expect(msgBody(await conn.nextReply())).toMatchObject({ n: 3, ok: 1 });
    } finally {
      conn.close();
    }
  });

  test('sends no reply to a moreToCome message, and applies it before the next command', async ({ mongoDatabase: { target, dbName } }) => {
    const conn = await RawConnection.open(target.uri);
    try {
      conn.sendMsg({ insert: 'fire', documents: [{ _id: 'a' }], writeConcern: { w: 0 }, $db: dbName }, { moreToCome: true });
      const findId = conn.sendMsg({ find: 'fire', filter: {}, $db: dbName });
      const reply = await conn.nextReply();
      expect(reply.responseTo).toBe(findId);
      expect(msgBody(reply)).toMatchObject({ ok: 1, cursor: { firstBatch: [{ _id: 'a' }] } });
    } finally {
      conn.close();
    }
  });

  test('returns cursor ids as int64', async ({ mongoDatabase: { target, dbName } }) => {
    const conn = await RawConnection.open(target.uri);
    try {
      conn.sendMsg({ insert: 'longs', documents: Array.from({ length: 5 }, (_, i) => ({ i })), $db: dbName });
      await conn.nextReply();
      conn.sendMsg({ find: 'longs', batchSize: 2, $db: dbName });
      const body = BSON.deserialize((await conn.nextReply()).body.subarray(5), { promoteLongs: false });
      expect(body.cursor.id).toBeInstanceOf(BSON.Long);
      expect((body.cursor.id as InstanceType<typeof BSON.Long>).isZero()).toBe(false);
      conn.sendMsg({ getMore: body.cursor.id, collection: 'longs', $db: dbName });
      const more = BSON.deserialize((await conn.nextReply()).body.subarray(5), { promoteLongs: false });
      expect(more.cursor.nextBatch).toHaveLength(3);
      expect(more.cursor.id).toBeInstanceOf(BSON.Long);
      expect((more.cursor.id as InstanceType<typeof BSON.Long>).isZero()).toBe(true);
    } finally {
      conn.close();
    }
  });
});
