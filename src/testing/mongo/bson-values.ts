import { BSON, Binary, BSONRegExp, Decimal128, Double, Int32, Long, ObjectId, Timestamp, type Document } from 'bson';

/** Values held in stored documents: decoded BSON (see `DESERIALIZE_OPTIONS`). */
export type BsonValue = unknown;

/** Marker for "field absent", distinct from an explicit `null`. */
export const MISSING = Symbol('missing');

/**
 * Helpers over BSON-faithful values: cloning, canonical keys for index maps,
 * mongod-style printing, and the number-only "query view" handed to mingo.
 */
export const BsonValues = {
  isPlainObject(value: unknown): value is Document {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const proto: unknown = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
  },

  /** Deep copy of arrays and plain objects; BSON class instances are immutable and shared. */
  clone<T>(value: T): T {
    if (Array.isArray(value)) return value.map((v: unknown) => BsonValues.clone(v)) as T;
    if (value instanceof Date) return new Date(value.getTime()) as T;
    if (BsonValues.isPlainObject(value)) {
      const out: Document = {};
      for (const [k, v] of Object.entries(value)) out[k] = BsonValues.clone(v);
      return out as T;
    }
    return value;
  },

  /**
   * A string that is equal for two values exactly when mongod's index key
   * comparison says they are equal: 1, 1.0 and NumberLong(1) collide; a
   * missing field and `null` collide; embedded documents compare field by
   * field in order.
   */
  canonicalKey(value: unknown): string {
    if (value === MISSING || value === null || value === undefined) return 'n';
    if (typeof value === 'bigint') return `N${value.toString()}`;
    const exact = exactNumber(value);
    if (exact !== undefined) return numericKey(exact);
    if (typeof value === 'string') return `s${JSON.stringify(value)}`;
    if (typeof value === 'boolean') return value ? 'T' : 'F';
    if (value instanceof Date) return `d${value.getTime()}`;
    if (value instanceof RegExp) return `r/${value.source}/${value.flags}`;
    if (Array.isArray(value)) return `a[${value.map((v: unknown) => BsonValues.canonicalKey(v)).join(',')}]`;
    if (value instanceof ObjectId) return `o${value.toHexString()}`;
    if (value instanceof Timestamp) return `t${value.toString()}`;
    if (value instanceof Binary) return `B${value.sub_type}:${Buffer.from(value.buffer).toString('base64')}`;
    if (value instanceof BSONRegExp) return `r/${value.pattern}/${value.options}`;
    if (BsonValues.isPlainObject(value)) {
      return `{${Object.entries(value)
        .map(([k, v]) => `${JSON.stringify(k)}:${BsonValues.canonicalKey(v)}`)
        .join(',')}}`;
    }
    return `x${String(value)}`;
  },

  /** mongod's shell-like rendering used in E11000 messages: `{ name: "x" }`. */
  format(value: unknown): string {
    if (value === MISSING || value === undefined || value === null) return 'null';
    if (typeof value === 'string') return JSON.stringify(value);
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
    if (value instanceof Date) return `new Date(${value.getTime()})`;
    if (value instanceof ObjectId) return `ObjectId('${value.toHexString()}')`;
    if (value instanceof Long) return value.toString();
    if (Array.isArray(value)) return `[ ${value.map((v: unknown) => BsonValues.format(v)).join(', ')} ]`;
    if (BsonValues.isPlainObject(value)) {
      const entries = Object.entries(value);
      if (entries.length === 0) return '{}';
      return `{ ${entries.map(([k, v]) => `${k}: ${BsonValues.format(v)}`).join(', ')} }`;
    }
    return String(value);
  },

  /**
   * mingo compares only JS primitives, Dates and same-class objects, so Long,
   * Decimal128 and Double are turned into numbers for matching. Returns
   * the input itself when it holds none (the common case: no copy).
   */
  toQueryView<T>(value: T): T {
    if (value === null || typeof value !== 'object') return value;
    // Stored documents are never mutated (updates replace them), so a view can be cached per object.
    const cached = viewCache.get(value);
    if (cached !== undefined) return cached as T;
    const view = needsView(value) ? convertView(value) : value;
    viewCache.set(value, view);
    if (view !== null && typeof view === 'object') originals.set(view, value);
    return view as T;
  },

  /** The stored value a query view was made from (the view itself when it needed no conversion). */
  originalOf<T>(view: T): T {
    if (view === null || typeof view !== 'object') return view;
    return (originals.get(view) as T | undefined) ?? view;
  },

  /** Makes `originalOf(view)` answer `original` (for views made elsewhere, e.g. folded by a collation). */
  linkView(view: object, original: object): void {
    originals.set(view, original);
  },

  /**
   * After an update or pipeline ran on a query view, put back the stored
   * document's int64 and Decimal128 values: unchanged ones exactly as stored
   * (no precision lost), changed int64 ones as int64 while still integral
   * (Long + int is Long in mongod).
   */
  restoreBsonTypes(original: unknown, updated: unknown): unknown {
    if (original instanceof Long && typeof updated === 'number') {
      if (updated === original.toNumber()) return original;
      return Number.isInteger(updated) ? Long.fromNumber(updated) : updated;
    }
    if (original instanceof Decimal128 && typeof updated === 'number' && updated === Number(original.toString())) {
      return original;
    }
    if (original instanceof Double && typeof updated === 'number' && Object.is(updated, original.value)) return original;
    if (BsonValues.isPlainObject(original) && BsonValues.isPlainObject(updated)) {
      for (const key of Object.keys(updated)) {
        if (key in original) updated[key] = BsonValues.restoreBsonTypes(original[key], updated[key]);
      }
    } else if (Array.isArray(original) && Array.isArray(updated)) {
      for (let i = 0; i < updated.length && i < original.length; i++) {
        updated[i] = BsonValues.restoreBsonTypes(original[i], updated[i]);
      }
    }
    return updated;
  },

  /**
   * Values reached by a dotted path, with mongod's array expansion: arrays
   * met on the way are traversed element by element (numeric components
   * index into them), a terminal array contributes each element (or itself,
   * with `expandTerminal` false).
   * Returns `[MISSING]` when nothing is reached.
   */
  valuesAtPath(doc: unknown, path: string, expandTerminal = true): unknown[] {
    const out: unknown[] = [];
    collect(doc, path.split('.'), 0, out, expandTerminal);
    return out.length === 0 ? [MISSING] : out;
  },

  /** The value at a dotted path without array expansion, or `MISSING`. */
  getPath(doc: unknown, path: string): unknown {
    let current: unknown = doc;
    for (const part of path.split('.')) {
      if (Array.isArray(current) && /^\d+$/.test(part)) current = current[Number(part)];
      else if (BsonValues.isPlainObject(current) && Object.hasOwn(current, part)) current = current[part];
      else return MISSING;
    }
    return current === undefined ? MISSING : current;
  },

  /** Sets a dotted path, creating embedded documents on the way. */
  setPath(doc: Document, path: string, value: unknown): void {
    const parts = path.split('.');
    let current: Document = doc;
    for (const part of parts.slice(0, -1)) {
      const next: unknown = current[part];
      if (!BsonValues.isPlainObject(next)) current[part] = {};
      current = current[part] as Document;
    }
    current[parts[parts.length - 1]!] = value;
  },

  /** Byte-level equality of two documents (field order and BSON types included). */
  sameDocument(a: Document, b: Document): boolean {
    return Buffer.from(serialize(a)).equals(Buffer.from(serialize(b)));
  },
};

function serialize(doc: Document): Uint8Array {
  return BSON.serialize(doc);
}

const viewCache = new WeakMap<object, unknown>();
const originals = new WeakMap<object, unknown>();

/** Equal keys ⇔ equal numbers, across int32, int64, double and Decimal128 (mongod compares numbers by exact value). */
function numericKey(exact: ExactNumber): string {
  if (typeof exact === 'string') return `N${exact}`;
  let { coefficient, exponent } = exact;
  if (coefficient === 0n) return 'N0';
  while (exponent < 0 && coefficient % 10n === 0n) {
    coefficient /= 10n;
    exponent += 1;
  }
  return exponent >= 0 ? `N${(coefficient * 10n ** BigInt(exponent)).toString()}` : `N${coefficient.toString()}e${exponent}`;
}

/** A number's exact value (coefficient · 10^exponent), or one of the non-finite values. */
export type ExactNumber = { readonly coefficient: bigint; readonly exponent: number } | 'NaN' | 'Infinity' | '-Infinity';

/**
 * The exact value of a BSON number (int32, int64, double, Decimal128), so
 * that numbers of different types compare by value as mongod does: a double
 * is its binary value written in decimal, a Decimal128 its own digits.
 * Undefined for a non-number.
 */
export function exactNumber(value: unknown): ExactNumber | undefined {
  if (value instanceof Long) return { coefficient: value.toBigInt(), exponent: 0 };
  if (value instanceof Decimal128) {
    const text = value.toString();
    const match = /^(-?)(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/.exec(text);
    if (!match) return text === 'NaN' ? 'NaN' : text.startsWith('-') ? '-Infinity' : 'Infinity';
    const fraction = match[3] ?? '';
    return { coefficient: BigInt(`${match[1]}${match[2]}${fraction}`), exponent: Number(match[4] ?? 0) - fraction.length };
  }
  const n = value instanceof Double ? value.value : value instanceof Int32 ? value.value : typeof value === 'number' ? value : undefined;
  if (n === undefined) return undefined;
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(n)) return { coefficient: BigInt(n), exponent: 0 };
  // The double's exact binary value m·2^k written in decimal: m·5^-k · 10^k (k < 0 here).
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  const bits = view.getBigUint64(0);
  const exponentBits = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  if (exponentBits !== 0) mantissa |= 1n << 52n;
  const k = (exponentBits === 0 ? 1 : exponentBits) - 1075;
  return { coefficient: (n < 0 ? -1n : 1n) * mantissa * 5n ** BigInt(-k), exponent: k };
}

function collect(value: unknown, parts: string[], index: number, out: unknown[], expandTerminal: boolean): void {
  if (index === parts.length) {
    if (Array.isArray(value) && expandTerminal) {
      if (value.length === 0) out.push(undefined);
      else for (const v of value) out.push(v);
    } else {
      out.push(value);
    }
    return;
  }
  const part = parts[index]!;
  if (Array.isArray(value)) {
    if (/^\d+$/.test(part) && Number(part) < value.length) {
      collect(value[Number(part)], parts, index + 1, out, expandTerminal);
      return;
    }
    for (const element of value) {
      if (BsonValues.isPlainObject(element)) collect(element, parts, index, out, expandTerminal);
    }
    return;
  }
  if (BsonValues.isPlainObject(value) && Object.hasOwn(value, part)) {
    collect(value[part], parts, index + 1, out, expandTerminal);
  }
}

function needsView(value: unknown): boolean {
  if (value instanceof Long || value instanceof Decimal128 || value instanceof Double) return true;
  if (Array.isArray(value)) return value.some(needsView);
  if (BsonValues.isPlainObject(value)) {
    for (const key in value) if (needsView(value[key])) return true;
  }
  return false;
}

function convertView(value: unknown): unknown {
  if (value instanceof Long) return value.toNumber();
  if (value instanceof Decimal128) return Number(value.toString());
  if (value instanceof Double) return value.value;
  if (Array.isArray(value)) return value.map(convertView);
  if (BsonValues.isPlainObject(value)) {
    const out: Document = {};
    for (const [k, v] of Object.entries(value)) out[k] = convertView(v);
    return out;
  }
  return value;
}
