import { Binary, BSONRegExp, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, type Document } from 'bson';
import { BsonValues, exactNumber, MISSING, type ExactNumber } from './bson-values.js';
import { Collation } from './collation.js';

/**
 * mongod's total order over BSON values ("Comparison/Sort Order" in the
 * MongoDB manual): MinKey < null < numbers < strings < objects < arrays <
 * binData < ObjectId < booleans < dates < timestamps < regexes < MaxKey.
 * Numbers of every type compare by value; strings by the collation when one
 * is given, else by code points.
 */
export const BsonOrder = {
  compare(a: unknown, b: unknown, collation?: Collation): number {
    const ra = rank(a);
    const rb = rank(b);
    if (ra !== rb) return ra < rb ? -1 : 1;
    switch (ra) {
      case RANK.number:
        return compareNumbers(a, b);
      case RANK.string:
        return collation ? collation.compare(a as string, b as string) : codePointCompare(a as string, b as string);
      case RANK.object:
        return compareObjects(a as Document, b as Document, collation);
      case RANK.array:
        return compareArrays(a as unknown[], b as unknown[], collation);
      case RANK.binData: {
        const x = a as Binary;
        const y = b as Binary;
        if (x.length() !== y.length()) return x.length() < y.length() ? -1 : 1;
        if (x.sub_type !== y.sub_type) return x.sub_type < y.sub_type ? -1 : 1;
        return Buffer.compare(Buffer.from(x.buffer), Buffer.from(y.buffer));
      }
      case RANK.objectId:
        return codePointCompare((a as ObjectId).toHexString(), (b as ObjectId).toHexString());
      case RANK.boolean:
        return a === b ? 0 : a ? 1 : -1;
      case RANK.date:
        return Math.sign((a as Date).getTime() - (b as Date).getTime());
      case RANK.timestamp:
        return (a as Timestamp).compare(b as Timestamp);
      case RANK.regex:
        return codePointCompare(regexText(a), regexText(b));
      default:
        return 0;
    }
  },

  /**
   * Sorts documents by a sort spec the way mongod does: a field holding an
   * array sorts by its smallest element ascending and its largest descending;
   * an empty array sorts before null and missing fields. Stable.
   */
  sort<T extends Document>(docs: T[], spec: Readonly<Record<string, 1 | -1>>, collation?: Collation): T[] {
    const fields = Object.entries(spec);
    const keys = new Map<T, unknown[]>();
    for (const doc of docs)
      keys.set(
        doc,
        fields.map(([path, dir]) => sortKey(doc, path, dir, collation)),
      );
    return docs
      .map((doc, index) => ({ doc, index }))
      .sort((x, y) => {
        const kx = keys.get(x.doc)!;
        const ky = keys.get(y.doc)!;
        for (let i = 0; i < fields.length; i++) {
          const c = BsonOrder.compare(kx[i], ky[i], collation);
          if (c !== 0) return c * fields[i]![1];
        }
        return x.index - y.index;
      })
      .map((entry) => entry.doc);
  },
};

const EMPTY_ARRAY_KEY = Symbol('empty array');

const RANK = {
  minKey: 1,
  emptyArray: 1.5,
  null: 2,
  number: 3,
  string: 4,
  object: 5,
  array: 6,
  binData: 7,
  objectId: 8,
  boolean: 9,
  date: 10,
  timestamp: 11,
  regex: 12,
  maxKey: 13,
} as const;

function rank(value: unknown): number {
  if (value === EMPTY_ARRAY_KEY) return RANK.emptyArray;
  if (value === MISSING || value === null || value === undefined) return RANK.null;
  if (typeof value === 'number' || value instanceof Long || value instanceof Decimal128 || value instanceof Int32 || value instanceof Double)
    return RANK.number;
  if (typeof value === 'string') return RANK.string;
  if (typeof value === 'boolean') return RANK.boolean;
  if (Array.isArray(value)) return RANK.array;
  if (value instanceof Date) return RANK.date;
  if (value instanceof ObjectId) return RANK.objectId;
  if (value instanceof Binary) return RANK.binData;
  if (value instanceof Timestamp) return RANK.timestamp;
  if (value instanceof RegExp || value instanceof BSONRegExp) return RANK.regex;
  if (value instanceof MinKey) return RANK.minKey;
  if (value instanceof MaxKey) return RANK.maxKey;
  return RANK.object;
}

function compareNumbers(a: unknown, b: unknown): number {
  if (a instanceof Long && b instanceof Long) return a.compare(b);
  if (needsExactComparison(a) || needsExactComparison(b)) return compareExact(exactNumber(a)!, exactNumber(b)!);
  const x = asDouble(a);
  const y = asDouble(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : -1) : 1; // NaN sorts below every number
  return x === y ? 0 : x < y ? -1 : 1;
}

/** A number within a double's exact range as a JS number (bson's Long has no numeric valueOf). */
function asDouble(value: unknown): number {
  if (value instanceof Long) return value.toNumber();
  if (value instanceof Int32 || value instanceof Double) return value.value;
  return value as number;
}

function needsExactComparison(value: unknown): boolean {
  if (value instanceof Decimal128) return true;
  if (!(value instanceof Long)) return false;
  const n = value.toNumber();
  return n > Number.MAX_SAFE_INTEGER || n < Number.MIN_SAFE_INTEGER;
}

/** NaN < -Infinity < finite values < Infinity (mongod's numeric order; NaN equals NaN). */
function compareExact(a: ExactNumber, b: ExactNumber): number {
  const rankOf = (x: ExactNumber): number => (x === 'NaN' ? 0 : x === '-Infinity' ? 1 : x === 'Infinity' ? 3 : 2);
  const ra = rankOf(a);
  const rb = rankOf(b);
  if (ra !== rb || typeof a === 'string' || typeof b === 'string') return Math.sign(ra - rb);
  const exponent = Math.min(a.exponent, b.exponent);
  const x = a.coefficient * 10n ** BigInt(a.exponent - exponent);
  const y = b.coefficient * 10n ** BigInt(b.exponent - exponent);
  return x === y ? 0 : x < y ? -1 : 1;
}

function codePointCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function regexText(value: unknown): string {
  if (value instanceof RegExp) return `${value.source}\u0000${value.flags}`;
  const r = value as BSONRegExp;
  return `${r.pattern}\u0000${r.options}`;
}

function compareObjects(a: Document, b: Document, collation: Collation | undefined): number {
  const ea = Object.entries(a);
  const eb = Object.entries(b);
  for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
    const [ka, va] = ea[i]!;
    const [kb, vb] = eb[i]!;
    const typeOrder = rank(va) - rank(vb);
    if (typeOrder !== 0) return Math.sign(typeOrder);
    const nameOrder = codePointCompare(ka, kb);
    if (nameOrder !== 0) return nameOrder;
    const valueOrder = BsonOrder.compare(va, vb, collation);
    if (valueOrder !== 0) return valueOrder;
  }
  return Math.sign(ea.length - eb.length);
}

function compareArrays(a: unknown[], b: unknown[], collation: Collation | undefined): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = BsonOrder.compare(a[i], b[i], collation);
    if (c !== 0) return c;
  }
  return Math.sign(a.length - b.length);
}

function sortKey(doc: Document, path: string, dir: 1 | -1, collation: Collation | undefined): unknown {
  const direct = BsonValues.getPath(doc, path);
  if (Array.isArray(direct) && direct.length === 0) return EMPTY_ARRAY_KEY;
  const values = BsonValues.valuesAtPath(doc, path).map((v) => (v === undefined ? EMPTY_ARRAY_KEY : v));
  let best = values[0];
  for (const value of values.slice(1)) {
    const c = BsonOrder.compare(value, best, collation);
    if ((dir === 1 && c < 0) || (dir === -1 && c > 0)) best = value;
  }
  return best;
}
