import { Decimal128, Double, Long, type Document } from 'bson';
import { Context } from 'mingo';
import type { Any, Options } from 'mingo/types';
import { matchesBsonType } from './bson-json-schema.js';
import { BsonValues, MISSING } from './bson-values.js';
import { CommandError } from './command-error.js';

/** `$type` numbers and aliases (MongoDB manual, "$type"). */
const TYPE_ALIASES: Readonly<Record<number, string>> = {
  1: 'double',
  2: 'string',
  3: 'object',
  4: 'array',
  5: 'binData',
  6: 'undefined',
  7: 'objectId',
  8: 'bool',
  9: 'date',
  10: 'null',
  11: 'regex',
  13: 'javascript',
  16: 'int',
  17: 'timestamp',
  18: 'long',
  19: 'decimal',
  [-1]: 'minKey',
  127: 'maxKey',
};
const TYPE_NAMES = new Set([...Object.values(TYPE_ALIASES), 'number']);

/** `$type` against the stored values (views have turned int64/Decimal128/Double into numbers). */
function $type(selector: string, value: Any): (obj: Any) => boolean {
  const wanted = (Array.isArray(value) ? value : [value]).map((t: unknown) => {
    const name = typeof t === 'number' ? TYPE_ALIASES[t] : typeof t === 'string' && TYPE_NAMES.has(t) ? t : undefined;
    if (name === undefined) throw new CommandError('BadValue', `Unknown type name alias: ${String(t)}`);
    return name;
  });
  return (obj: Any) => {
    const doc = BsonValues.originalOf(obj);
    const direct = BsonValues.getPath(doc, selector);
    const candidates = [...BsonValues.valuesAtPath(doc, selector).filter((v) => v !== MISSING && v !== undefined), ...(Array.isArray(direct) ? [direct] : [])];
    return candidates.some((v) => wanted.some((t) => matchesBsonType(t, v)));
  };
}

/** A filter operand kept out of the number-only query view (views would round it). */
class ExactOperand {
  readonly values: readonly unknown[];

  constructor(values: readonly unknown[]) {
    this.values = values;
  }
}

/** Equality/`$in` with int64 or Decimal128 operands, decided on the stored values exactly (mongod compares numbers by exact value). */
function $exactIn(selector: string, operand: Any): (obj: Any) => boolean {
  const wanted = (operand as ExactOperand).values.map((v) => NumericKey.of(v) ?? `k${BsonValues.canonicalKey(v)}`);
  return (obj: Any) => {
    const doc = BsonValues.originalOf(obj);
    return BsonValues.valuesAtPath(doc, selector).some((v) => wanted.includes(NumericKey.of(v) ?? `k${BsonValues.canonicalKey(v)}`));
  };
}

/** The stand-in's operators, under names of their own: mingo's context lets its built-in operators win. */
const TYPE_OPERATOR = '$__standInType';
const EXACT_IN_OPERATOR = '$__standInExactIn';

/** Query operators added to mingo's. */
export const QUERY_CONTEXT = Context.init({
  query: { [TYPE_OPERATOR]: $type, [EXACT_IN_OPERATOR]: $exactIn } as unknown as Record<
    string,
    (selector: string, value: Any, options: Options) => (obj: Any) => boolean
  >,
});

/** An exact, type-independent key for a numeric value: equal keys ⇔ equal numbers (mongod's numeric equality). */
const NumericKey = {
  of(value: unknown): string | undefined {
    if (value instanceof Long) return normalise(value.toBigInt(), 0);
    if (value instanceof Decimal128) {
      const text = value.toString();
      const match = /^(-?)(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/.exec(text);
      if (!match) return `D${text}`; // NaN / Infinity
      const fraction = match[3] ?? '';
      return normalise(BigInt(`${match[1]}${match[2]}${fraction}`), Number(match[4] ?? 0) - fraction.length);
    }
    const n = value instanceof Double ? value.value : typeof value === 'number' ? value : undefined;
    if (n === undefined) return undefined;
    if (!Number.isFinite(n)) return Number.isNaN(n) ? 'DNaN' : n > 0 ? 'DInfinity' : 'D-Infinity';
    if (Number.isInteger(n)) return normalise(BigInt(n), 0);
    // The double's exact binary value m·2^k written in decimal: m·5^-k · 10^k.
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, n);
    const bits = view.getBigUint64(0);
    const exponentBits = Number((bits >> 52n) & 0x7ffn);
    let mantissa = bits & ((1n << 52n) - 1n);
    if (exponentBits !== 0) mantissa |= 1n << 52n;
    const k = (exponentBits === 0 ? 1 : exponentBits) - 1075;
    const sign = n < 0 ? -1n : 1n;
    return normalise(sign * mantissa * 5n ** BigInt(-k), k);
  },
};

function normalise(coefficient: bigint, exponent: number): string {
  if (coefficient === 0n) return 'N0';
  let c = coefficient;
  let e = exponent;
  while (c % 10n === 0n) {
    c /= 10n;
    e += 1;
  }
  return `N${c}e${e}`;
}

function needsExact(value: unknown): boolean {
  return (
    value instanceof Decimal128 ||
    (value instanceof Long && (value.greaterThan(Long.fromNumber(Number.MAX_SAFE_INTEGER)) || value.lessThan(Long.fromNumber(Number.MIN_SAFE_INTEGER))))
  );
}

/** `{f: X}`, `{$eq: X}`, `{$ne: X}`, `{$in: [...]}`, `{$nin: [...]}` with an int64/Decimal128 X, as exact operators; else undefined. */
function exactCondition(condition: unknown): Document | undefined {
  if (needsExact(condition)) return { [EXACT_IN_OPERATOR]: new ExactOperand([condition]) };
  if (!BsonValues.isPlainObject(condition)) return undefined;
  const keys = Object.keys(condition);
  if (keys.length !== 1) return undefined;
  const [op] = keys as [string];
  const arg: unknown = condition[op];
  const list = op === '$eq' || op === '$ne' ? [arg] : (op === '$in' || op === '$nin') && Array.isArray(arg) ? (arg as unknown[]) : undefined;
  if (!list || !list.some(needsExact) || list.some((v) => v instanceof RegExp)) return undefined;
  const exact = { [EXACT_IN_OPERATOR]: new ExactOperand(list) };
  return op === '$ne' || op === '$nin' ? { $not: exact } : exact;
}

/** Filter rewrites applied before mingo sees a filter. */
export const QueryOperators = {
  /**
   * Rewrites `{$regex, $options}` whose options hold `x` (PCRE extended: white
   * space and `#` comments in the pattern are ignored), which JavaScript's
   * RegExp cannot compile, `$type` to the BSON-faithful operator, and
   * equality/`$in` against int64 beyond 2^53 or Decimal128 to exact
   * comparison; refuses `$where`. Call it on the stored-type filter, before
   * making its query view. Returns the input itself when nothing changes.
   * @throws CommandError 2 for `$where`, as a mongod with scripting disabled answers.
   */
  prepare<T>(filter: T, inElemMatch = false): T {
    if (Array.isArray(filter)) {
      const mapped = filter.map((v: unknown) => QueryOperators.prepare(v, inElemMatch));
      return (mapped.some((v, i) => v !== filter[i]) ? mapped : filter) as T;
    }
    if (!BsonValues.isPlainObject(filter)) return filter;
    if (typeof filter.$regex === 'string' && typeof filter.$options === 'string' && filter.$options.includes('x')) {
      return { ...filter, $regex: stripExtended(filter.$regex), $options: filter.$options.replaceAll('x', '') } as T;
    }
    let changed = false;
    const out: Document = {};
    for (const [key, value] of Object.entries(filter)) {
      if (key === '$where') {
        throw new CommandError(
          'BadValue',
          '$where is not supported by the MongoDB stand-in (no server-side JavaScript): no globalScriptEngine in $where parsing',
        );
      }
      if (key === '$expr') {
        out[key] = value; // aggregation expressions have their own $type
        continue;
      }
      // Inside $elemMatch the operator sees element views, whose numbers are already rounded.
      const exact = !inElemMatch && !key.startsWith('$') ? exactCondition(value) : undefined;
      if (exact) {
        out[key] = exact;
        changed = true;
        continue;
      }
      const name = key === '$type' ? TYPE_OPERATOR : key;
      out[name] = QueryOperators.prepare(value, inElemMatch || key === '$elemMatch');
      if (name !== key || out[name] !== value) changed = true;
    }
    return (changed ? out : filter) as T;
  },
};

function stripExtended(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += c + (pattern[i + 1] ?? '');
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
    } else if (c === '#') {
      while (i < pattern.length && pattern[i] !== '\n') i++;
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return out;
}
