import { BSON, Double, Int32, type Document } from 'bson';

/**
 * Framing and (de)serialisation of the MongoDB wire protocol, just the parts a
 * modern driver uses: OP_QUERY for the legacy handshake (answered with
 * OP_REPLY) and OP_MSG for everything else.
 *
 * Documents are decoded BSON-faithfully (see `decodeDocument`).
 */

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

const FLAG_CHECKSUM_PRESENT = 1;
const FLAG_MORE_TO_COME = 2;
const HEADER_SIZE = 16;

/** Largest message accepted, as advertised in the hello reply. */
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;

const DESERIALIZE_OPTIONS: BSON.DeserializeOptions = {
  promoteLongs: false,
  promoteValues: false,
  promoteBuffers: false,
  bsonRegExp: false,
  useBigInt64: false,
};

export interface WireRequest {
  readonly opCode: typeof OP_QUERY | typeof OP_MSG;
  readonly requestId: number;
  /** The command; kind-1 document sequences are merged into it as arrays. */
  readonly command: Document;
  /** Database the command runs in (`$db`, or the OP_QUERY namespace prefix). */
  readonly database: string;
  /** OP_MSG moreToCome: the client expects no reply. */
  readonly moreToCome: boolean;
}

export class WireProtocolError extends Error {}

/**
 * Splits a TCP byte stream into wire messages and decodes them; encodes
 * replies. One instance per connection.
 */
export class WireCodec {
  #pending: Buffer[] = [];
  #pendingLength = 0;
  #nextRequestId = 1;

  /** Feeds received bytes; returns every request completed by them. */
  push(chunk: Buffer): WireRequest[] {
    this.#pending.push(chunk);
    this.#pendingLength += chunk.length;
    const out: WireRequest[] = [];
    for (;;) {
      if (this.#pendingLength < 4) break;
      if (this.#pending[0]!.length < 4) this.#pending = [Buffer.concat(this.#pending)];
      const length = this.#pending[0]!.readInt32LE(0);
      if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE_BYTES) {
        throw new WireProtocolError(`invalid message length ${length}`);
      }
      // Concatenate only once the whole message is here (large inserts arrive in many chunks).
      if (this.#pendingLength < length) break;
      const head = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
      const message = head.subarray(0, length);
      const rest = head.subarray(length);
      this.#pending = rest.length > 0 ? [rest] : [];
      this.#pendingLength = rest.length;
      out.push(decodeMessage(message));
    }
    return out;
  }

  /** An OP_MSG reply carrying one kind-0 section. */
  encodeOpMsg(responseTo: number, reply: Document): Buffer {
    const body = BSON.serialize(reply);
    const buffer = Buffer.alloc(HEADER_SIZE + 4 + 1 + body.length);
    this.#writeHeader(buffer, responseTo, OP_MSG);
    buffer.writeUInt32LE(0, 16);
    buffer.writeUInt8(0, 20);
    buffer.set(body, 21);
    return buffer;
  }

  /** An OP_REPLY carrying one document (the answer to a legacy OP_QUERY). */
  encodeOpReply(responseTo: number, reply: Document): Buffer {
    const body = BSON.serialize(reply);
    const buffer = Buffer.alloc(HEADER_SIZE + 20 + body.length);
    this.#writeHeader(buffer, responseTo, OP_REPLY);
    buffer.writeInt32LE(0, 16); // responseFlags
    buffer.writeBigInt64LE(0n, 20); // cursorID
    buffer.writeInt32LE(0, 28); // startingFrom
    buffer.writeInt32LE(1, 32); // numberReturned
    buffer.set(body, 36);
    return buffer;
  }

  #writeHeader(buffer: Buffer, responseTo: number, opCode: number): void {
    buffer.writeInt32LE(buffer.length, 0);
    buffer.writeInt32LE(this.#nextRequestId++ & 0x7fffffff, 4);
    buffer.writeInt32LE(responseTo, 8);
    buffer.writeInt32LE(opCode, 12);
  }
}

function decodeMessage(message: Buffer): WireRequest {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  if (opCode === OP_MSG) return decodeOpMsg(message, requestId);
  if (opCode === OP_QUERY) return decodeOpQuery(message, requestId);
  throw new WireProtocolError(opCode === OP_COMPRESSED ? 'OP_COMPRESSED received although no compressor was negotiated' : `unsupported opCode ${opCode}`);
}

function readDocument(message: Buffer, offset: number): { doc: Document; end: number } {
  const size = message.readInt32LE(offset);
  if (size < 5 || offset + size > message.length) throw new WireProtocolError('truncated BSON document');
  const doc = decodeDocument(message.subarray(offset, offset + size));
  return { doc, end: offset + size };
}

/**
 * Decodes one BSON document BSON-faithfully: int64 stays `Long`, int32 becomes
 * a JS number, and a double stays a `Double` exactly when the serializer would
 * otherwise write it back as int32 (an integral value in int32 range), so
 * `Double(2)` round-trips as a double.
 */
export function decodeDocument(bytes: Uint8Array): Document {
  return faithful(BSON.deserialize(bytes, DESERIALIZE_OPTIONS)) as Document;
}

function faithful(value: unknown): unknown {
  if (value instanceof Int32) return value.value;
  if (value instanceof Double) {
    const n = value.value;
    return Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 && !Object.is(n, -0) ? value : n;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = faithful(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const doc = value as Document;
    for (const key of Object.keys(doc)) doc[key] = faithful(doc[key]);
  }
  return value;
}

function decodeOpMsg(message: Buffer, requestId: number): WireRequest {
  const flags = message.readUInt32LE(16);
  // A trailing CRC-32C is not verified: TCP on loopback already guarantees integrity.
  const end = flags & FLAG_CHECKSUM_PRESENT ? message.length - 4 : message.length;
  let offset = 20;
  let body: Document | undefined;
  const sequences: Array<[string, Document[]]> = [];
  while (offset < end) {
    const kind = message.readUInt8(offset);
    offset += 1;
    if (kind === 0) {
      const { doc, end: next } = readDocument(message, offset);
      body = doc;
      offset = next;
    } else if (kind === 1) {
      const sectionSize = message.readInt32LE(offset);
      const sectionEnd = offset + sectionSize;
      const nul = message.indexOf(0, offset + 4);
      if (nul < 0 || nul >= sectionEnd) throw new WireProtocolError('malformed document sequence');
      const identifier = message.toString('utf8', offset + 4, nul);
      const docs: Document[] = [];
      let p = nul + 1;
      while (p < sectionEnd) {
        const { doc, end: next } = readDocument(message, p);
        docs.push(doc);
        p = next;
      }
      sequences.push([identifier, docs]);
      offset = sectionEnd;
    } else {
      throw new WireProtocolError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw new WireProtocolError('OP_MSG without a kind-0 section');
  for (const [identifier, docs] of sequences) {
    const existing: unknown = body[identifier];
    body[identifier] = Array.isArray(existing) ? [...(existing as Document[]), ...docs] : docs;
  }
  const database = typeof body.$db === 'string' ? body.$db : 'admin';
  return { opCode: OP_MSG, requestId, command: body, database, moreToCome: (flags & FLAG_MORE_TO_COME) !== 0 };
}

function decodeOpQuery(message: Buffer, requestId: number): WireRequest {
  const nul = message.indexOf(0, 20);
  if (nul < 0) throw new WireProtocolError('malformed OP_QUERY');
  const fullCollectionName = message.toString('utf8', 20, nul);
  const { doc } = readDocument(message, nul + 1 + 8);
  // Old drivers wrap the command as {$query: {...}, $readPreference: ...}.
  const inner: unknown = doc.$query;
  const command = inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Document) : doc;
  const dot = fullCollectionName.indexOf('.');
  const database = dot < 0 ? fullCollectionName : fullCollectionName.slice(0, dot);
  return { opCode: OP_QUERY, requestId, command, database, moreToCome: false };
}
