import { Binary, BSONRegExp, BSONSymbol, Code, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID, type Document } from 'bson';
import { BsonValues } from './bson-values.js';
import { CommandError } from './command-error.js';

/** What a change-stream resume token says (mongod's ResumeTokenData, version 2: the default since 6.0). */
export interface ResumeTokenData {
  readonly clusterTime: Timestamp;
  /** An event's token, or a high-water mark (a `postBatchResumeToken` past the last event). */
  readonly tokenType: 'event' | 'highWaterMark';
  /** Position of the write inside its transaction's commit (0 outside transactions). */
  readonly txnOpIndex: number;
  /** True for the token of an `invalidate` event. */
  readonly fromInvalidate: boolean;
  /** The collection's UUID; absent for dropDatabase and high-water marks (encoded as null). */
  readonly uuid?: UUID | undefined;
  /** `{operationType, documentKey}` or `{operationType[, operationDescription]}`; absent for high-water marks. */
  readonly eventIdentifier?: Document | undefined;
}

const TOKEN_VERSION = 2;
const EVENT_TOKEN = 128;

/**
 * Resume tokens in mongod's format: `{_data: <hex>}` (plus `_typeBits` when a
 * number in the event identifier is not an int32), where `_data` is the
 * KeyString (version 1) of `[clusterTime, version, tokenType, txnOpIndex,
 * fromInvalidate, uuid|null, eventIdentifier]`. Transcribed from mongod
 * src/mongo/db/pipeline/resume_token.cpp and src/mongo/db/storage/key_string.cpp
 * (type bytes, integer and double encodings, type bits). Decimal128 values that
 * are not exactly a double are the one encoding left out (see the ledger).
 */
export const ResumeToken = {
  encode(data: ResumeTokenData): Document {
    const out = new KeyStringBuilder();
    out.value(data.clusterTime);
    out.value(new Int32(TOKEN_VERSION));
    out.value(new Int32(data.tokenType === 'event' ? EVENT_TOKEN : 0));
    out.value(new Int32(data.txnOpIndex));
    out.value(data.fromInvalidate);
    out.value(data.uuid ?? null);
    if (data.eventIdentifier) out.value(data.eventIdentifier);
    out.end();
    const typeBits = out.typeBits();
    return typeBits ? { _data: out.hex(), _typeBits: typeBits } : { _data: out.hex() };
  },

  /**
   * The fields a stream needs to find its place: clusterTime, tokenType,
   * txnOpIndex and fromInvalidate (the leading, fixed part of every token).
   * @throws CommandError for a token mongod would refuse to parse (40647, FailedToParse, 50795…).
   */
  decode(token: unknown): Pick<ResumeTokenData, 'clusterTime' | 'tokenType' | 'txnOpIndex' | 'fromInvalidate'> {
    const data: unknown = (token as { _data?: unknown } | null)?._data;
    if (typeof data !== 'string') {
      throw new CommandError('Location40647', `Bad resume token: _data of missing or of wrong type. Expected string, got ${BsonValues.format(token)}`);
    }
    if (!/^(?:[0-9A-Fa-f]{2})*$/.test(data)) throw new CommandError('FailedToParse', 'resume token string was not a valid hex string');
    const bytes = Buffer.from(data, 'hex');
    const reader = new KeyStringReader(bytes);
    if (reader.byte() !== CT.timestamp) throw new CommandError('Location40649', 'invalid empty resume token');
    const high = reader.uint32();
    const low = reader.uint32();
    const version = reader.integer();
    if (version !== 1 && version !== 2) throw new CommandError('Location50795', 'Invalid Resume Token: only supports version 0, 1 and 2');
    const tokenType = reader.integer();
    if (tokenType !== EVENT_TOKEN && tokenType !== 0) throw new CommandError('Location51057', `Token type ${tokenType} not recognized`);
    const txnOpIndex = reader.integer();
    const invalidate = reader.byte();
    if (invalidate !== CT.boolFalse && invalidate !== CT.boolTrue) throw new CommandError('Location50870', 'Resume Token fromInvalidate is not a boolean.');
    return {
      clusterTime: new Timestamp({ t: high, i: low }),
      tokenType: tokenType === EVENT_TOKEN ? 'event' : 'highWaterMark',
      txnOpIndex,
      fromInvalidate: invalidate === CT.boolTrue,
    };
  },
};

/** KeyString type bytes (mongod key_string.cpp, namespace CType). */
const CT = {
  minKey: 10,
  nullish: 20,
  numericNaN: 30,
  numericNegativeLargeMagnitude: 31,
  numericNegative8ByteInt: 32,
  numericNegative1ByteInt: 39,
  numericNegativeSmallMagnitude: 40,
  numericZero: 41,
  numericPositiveSmallMagnitude: 42,
  numericPositive1ByteInt: 43,
  numericPositive8ByteInt: 50,
  numericPositiveLargeMagnitude: 51,
  stringLike: 60,
  object: 70,
  array: 80,
  binData: 90,
  oid: 100,
  boolFalse: 110,
  boolTrue: 111,
  date: 120,
  timestamp: 130,
  regex: 140,
  code: 160,
  maxKey: 240,
} as const;
const END = 4;

/** Type bits of numbers (key_string.h TypeBits): 2 bits each; strings 1 bit. */
const TB = { int: 0, long: 1, double: 2, decimal: 3 } as const;

class KeyStringBuilder {
  readonly #bytes: number[] = [];
  readonly #bits: number[] = [];

  end(): void {
    this.#bytes.push(END);
  }

  hex(): string {
    return Buffer.from(this.#bytes).toString('hex').toUpperCase();
  }

  /** The serialized type bits, or undefined when they are all zero (mongod then omits `_typeBits`). */
  typeBits(): Binary | undefined {
    if (!this.#bits.includes(1)) return undefined;
    const data: number[] = [];
    this.#bits.forEach((bit, i) => {
      if (i % 8 === 0) data.push(0);
      data[data.length - 1]! |= bit << (i % 8);
    });
    const encoded =
      data.length === 1 && data[0]! < 0x80 ? data : data.length <= 127 ? [0x80 | data.length, ...data] : [0x80, ...littleEndian32(data.length), ...data];
    return new Binary(Buffer.from(encoded), 0);
  }

  /** The type byte a value gets as an object field (numbers share one). */
  static genericType(value: unknown): number {
    if (isNumber(value)) return 30;
    const byte = KeyStringBuilder.typeOf(value);
    return byte === CT.boolTrue ? CT.boolFalse : byte;
  }

  static typeOf(value: unknown): number {
    if (value === null || value === undefined) return CT.nullish;
    if (value instanceof MinKey) return CT.minKey;
    if (value instanceof MaxKey) return CT.maxKey;
    if (typeof value === 'string' || value instanceof BSONSymbol) return CT.stringLike;
    if (typeof value === 'boolean') return value ? CT.boolTrue : CT.boolFalse;
    if (Array.isArray(value)) return CT.array;
    if (value instanceof Date) return CT.date;
    if (value instanceof Timestamp) return CT.timestamp;
    if (value instanceof ObjectId) return CT.oid;
    if (value instanceof Binary || value instanceof UUID) return CT.binData;
    if (value instanceof RegExp || value instanceof BSONRegExp) return CT.regex;
    if (value instanceof Code) return CT.code;
    return CT.object;
  }

  value(value: unknown): void {
    if (isNumber(value)) return this.#number(value);
    const type = KeyStringBuilder.typeOf(value);
    this.#bytes.push(type);
    switch (type) {
      case CT.stringLike:
        this.#bits.push(value instanceof BSONSymbol ? 1 : 0);
        return this.#cString(value instanceof BSONSymbol ? value.value : (value as string), true);
      case CT.code:
        return this.#cString((value as Code).code, true);
      case CT.date: {
        const bits = BigInt.asUintN(64, BigInt((value as Date).getTime()) ^ (1n << 63n));
        return this.#uint64(bits);
      }
      case CT.timestamp: {
        const ts = value as Timestamp;
        return this.#uint64((BigInt(ts.high >>> 0) << 32n) | BigInt(ts.low >>> 0));
      }
      case CT.oid:
        return void this.#bytes.push(...(value as ObjectId).id);
      case CT.binData: {
        const bin = value as Binary;
        const length = bin.length();
        if (length < 0xff) this.#bytes.push(length);
        else this.#bytes.push(0xff, ...bigEndian32(length));
        this.#bytes.push(bin.sub_type);
        return void this.#bytes.push(...bin.buffer.subarray(0, length));
      }
      case CT.regex: {
        const regex = value instanceof RegExp ? { pattern: value.source, options: value.flags } : (value as BSONRegExp);
        this.#cString(regex.pattern, false);
        return this.#cString(regex.options, false);
      }
      case CT.array:
        for (const element of value as unknown[]) this.value(element);
        return void this.#bytes.push(0);
      case CT.object:
        for (const [key, field] of Object.entries(value as Document)) {
          this.#bytes.push(KeyStringBuilder.genericType(field));
          this.#cString(key, false);
          this.value(field);
        }
        return void this.#bytes.push(0);
      default:
        return undefined; // null, booleans, MinKey, MaxKey: the type byte says it all
    }
  }

  #number(value: number | Int32 | Long | Double | Decimal128): void {
    if (value instanceof Long) {
      this.#bits.push(TB.long >> 1, TB.long & 1);
      return this.#integer(value.toBigInt());
    }
    if (value instanceof Int32 || (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 0x7fffffff && !Object.is(value, -0))) {
      this.#bits.push(TB.int >> 1, TB.int & 1);
      return this.#integer(BigInt(Number(value.valueOf())));
    }
    if (value instanceof Decimal128) {
      const n = Number(value.toString());
      // Only decimals that are exactly a double are encoded as mongod does (its "easy case").
      this.#bits.push(TB.decimal >> 1, TB.decimal & 1);
      this.#bits.push(...decimalExponentBits(value));
      return this.#double(n);
    }
    const n = value instanceof Double ? value.value : value;
    if (Object.is(n, -0))
      this.#bits.push(1, 1, 0, 0, 0); // kV1NegativeDoubleZero
    else this.#bits.push(TB.double >> 1, TB.double & 1);
    this.#double(n);
  }

  #integer(n: bigint): void {
    if (n === 0n) return void this.#bytes.push(CT.numericZero);
    if (n === -(1n << 63n)) return this.#largeDouble(Number(n));
    this.#preshifted((n < 0n ? -n : n) << 1n, n < 0n);
  }

  #preshifted(value: bigint, negative: boolean): void {
    const bytes = bigEndianMinimal(value);
    if (negative) {
      this.#bytes.push(CT.numericNegative1ByteInt - (bytes.length - 1), ...bytes.map((b) => ~b & 0xff));
    } else {
      this.#bytes.push(CT.numericPositive1ByteInt + (bytes.length - 1), ...bytes);
    }
  }

  #double(n: number): void {
    if (Number.isNaN(n)) return void this.#bytes.push(CT.numericNaN);
    const negative = n < 0;
    const magnitude = Math.abs(n);
    if (magnitude === 0) return void this.#bytes.push(CT.numericZero);
    if (magnitude < 1) {
      this.#bytes.push(negative ? CT.numericNegativeSmallMagnitude : CT.numericPositiveSmallMagnitude);
      // [2^-255, 1): the double's bits shifted left by 2 (decimal continuation marker 0); tinier values are left out.
      const encoded = BigInt.asUintN(64, doubleBits(magnitude) << 2n);
      return this.#uint64(negative ? ~encoded & 0xffffffffffffffffn : encoded);
    }
    if (magnitude >= 2 ** 63) return this.#largeDouble(n);
    const integerPart = BigInt(Math.floor(magnitude));
    if (Number.isInteger(magnitude)) return this.#preshifted(integerPart << 1n, negative);
    // Version 1 fractional encoding: 8 bytes holding (2·integer + 1) and the fraction, high bytes first.
    const fractionalBytes = Math.floor(leadingZeros64(integerPart << 1n) / 8);
    this.#bytes.push(negative ? CT.numericNegative8ByteInt + fractionalBytes : CT.numericPositive8ByteInt - fractionalBytes);
    let encoding = BigInt(magnitude * 256 ** fractionalBytes);
    encoding += (integerPart + 1n) << BigInt(fractionalBytes * 8);
    this.#uint64(negative ? ~encoding & 0xffffffffffffffffn : encoding);
  }

  #largeDouble(n: number): void {
    this.#bytes.push(n > 0 ? CT.numericPositiveLargeMagnitude : CT.numericNegativeLargeMagnitude);
    let encoded = Number.isFinite(n) ? BigInt.asUintN(64, doubleBits(n) << 1n) & ~(1n << 63n) : 0xffffffffffffffffn;
    if (n < 0) encoded = ~encoded & 0xffffffffffffffffn;
    this.#uint64(encoded);
  }

  #uint64(value: bigint): void {
    for (let shift = 56n; shift >= 0n; shift -= 8n) this.#bytes.push(Number((value >> shift) & 0xffn));
  }

  /** A NUL-terminated string; inside string values a NUL byte is written as 00 FF. */
  #cString(text: string, escapeNul: boolean): void {
    for (const byte of Buffer.from(text, 'utf8')) {
      this.#bytes.push(byte);
      if (byte === 0 && escapeNul) this.#bytes.push(0xff);
    }
    this.#bytes.push(0);
  }
}

class KeyStringReader {
  readonly #bytes: Buffer;
  #at = 0;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  byte(): number {
    if (this.#at >= this.#bytes.length) throw new CommandError('FailedToParse', 'KeyString format error: resume token ended early');
    return this.#bytes[this.#at++]!;
  }

  uint32(): number {
    let out = 0;
    for (let i = 0; i < 4; i++) out = out * 256 + this.byte();
    return out;
  }

  /** A non-negative integer written by #integer. */
  integer(): number {
    const type = this.byte();
    if (type === CT.numericZero) return 0;
    if (type < CT.numericPositive1ByteInt || type > CT.numericPositive1ByteInt + 3) {
      throw new CommandError('FailedToParse', 'KeyString format error: expected a small non-negative integer in the resume token');
    }
    let out = 0;
    for (let i = 0; i <= type - CT.numericPositive1ByteInt; i++) out = out * 256 + this.byte();
    return out / 2;
  }
}

function isNumber(value: unknown): value is number | Int32 | Long | Double | Decimal128 {
  // A Timestamp is a Long subclass in bson's typings; it is not a number.
  if (value instanceof Timestamp) return false;
  return typeof value === 'number' || value instanceof Int32 || value instanceof Long || value instanceof Double || value instanceof Decimal128;
}

function doubleBits(n: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  return view.getBigUint64(0);
}

function leadingZeros64(value: bigint): number {
  return 64 - value.toString(2).length;
}

function bigEndianMinimal(value: bigint): number[] {
  const out: number[] = [];
  for (let v = value; v > 0n; v >>= 8n) out.unshift(Number(v & 0xffn));
  return out;
}

function bigEndian32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function littleEndian32(n: number): number[] {
  return bigEndian32(n).reverse();
}

/** The low bits of a Decimal128's biased exponent that mongod keeps in the type bits (kStoredDecimalExponentBits = 6). */
function decimalExponentBits(value: Decimal128): number[] {
  const high = new DataView(value.bytes.buffer, value.bytes.byteOffset, 16).getUint32(12, true);
  const biased = (high >>> 17) & 0x3fff;
  const stored = biased & 0x3f;
  return [5, 4, 3, 2, 1, 0].map((bit) => (stored >> bit) & 1);
}
