import { Decimal128, Double, Long, type Document } from 'bson';
import { BsonOrder } from './bson-order.js';
import { BsonValues, MISSING } from './bson-values.js';
import { DecimalValue } from './decimal-value.js';

/** The accumulators of a `$group` that the stand-in computes itself (mingo's arithmetic and comparisons are double-only). */
type TypedOp = '$sum' | '$avg' | '$min' | '$max' | '$first' | '$last';
const TYPED_OPS = new Set<string>(['$sum', '$avg', '$min', '$max', '$first', '$last']);

interface TypedField {
  readonly op: TypedOp;
  readonly path: string;
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const RANK = { int: 0, long: 1, double: 2, decimal: 3 } as const;
type Kind = keyof typeof RANK;

/**
 * mongod's typed `$sum`, `$avg`, `$min`, `$max`, `$first` and `$last` over a
 * field path in a pipeline's first `$group`. `$sum`/`$avg` (manual,
 * reference/operator/aggregation/sum and avg): the result
 * has the widest input type (int → long on overflow → double; any double →
 * double; any Decimal128 → exact Decimal128), non-numeric values and arrays
 * are ignored, `$avg` of no numbers is null. The stage is run by mingo with
 * each such accumulator turned into a `$push` of `_id`; `finish` then sums
 * the stored documents' own values, with their BSON types intact.
 */
export const TypedAccumulators = {
  rewrite(stage: Document): { stage: Document; fields: Map<string, TypedField> } | undefined {
    const spec: unknown = stage.$group;
    if (!BsonValues.isPlainObject(spec)) return undefined;
    const fields = new Map<string, TypedField>();
    const group: Document = {};
    for (const [name, accumulator] of Object.entries(spec)) {
      const entries = BsonValues.isPlainObject(accumulator) ? Object.entries(accumulator) : [];
      const [op, arg] = entries[0] ?? [];
      if (
        name !== '_id' &&
        entries.length === 1 &&
        op !== undefined &&
        TYPED_OPS.has(op) &&
        typeof arg === 'string' &&
        arg.startsWith('$') &&
        !arg.startsWith('$$')
      ) {
        fields.set(name, { op: op as TypedOp, path: arg.slice(1) });
        group[name] = { $push: '$_id' };
      } else {
        group[name] = accumulator;
      }
    }
    return fields.size === 0 ? undefined : { stage: { $group: group }, fields };
  },

  /** Replaces each rewritten field's `_id` list by the typed result over the documents' values. */
  finish(results: Document[], fields: Map<string, TypedField>, docs: readonly Document[]): void {
    const byId = new Map(docs.map((doc) => [BsonValues.canonicalKey(BsonValues.toQueryView(doc._id)), doc]));
    for (const result of results) {
      for (const [name, field] of fields) {
        const ids = Array.isArray(result[name]) ? (result[name] as unknown[]) : [];
        const values = ids.map((id) => {
          const doc = byId.get(BsonValues.canonicalKey(id));
          return doc ? BsonValues.getPath(doc, field.path) : MISSING;
        });
        result[name] = ACCUMULATE[field.op](values);
      }
    }
  },
};

/**
 * Manual, aggregation/min and max: null and missing values are ignored (null when nothing is left), others compare in BSON
 * order with their types kept; aggregation/first and last: the first/last document's value, null when missing.
 */
const ACCUMULATE: Readonly<Record<TypedOp, (values: readonly unknown[]) => unknown>> = {
  $sum: sum,
  $avg: average,
  $min: (values) => extreme(values, -1),
  $max: (values) => extreme(values, 1),
  $first: (values) => present(values[0]),
  $last: (values) => present(values.at(-1)),
};

function present(value: unknown): unknown {
  return value === undefined || value === MISSING ? null : value;
}

function extreme(values: readonly unknown[], direction: 1 | -1): unknown {
  let best: unknown = null;
  for (const value of values) {
    if (value === MISSING || value === null || value === undefined) continue;
    if (best === null || BsonOrder.compare(value, best) * direction > 0) best = value;
  }
  return best;
}

function kindOf(value: unknown): Kind | undefined {
  if (value instanceof Decimal128) return 'decimal';
  if (value instanceof Long) return 'long';
  if (value instanceof Double) return 'double';
  if (typeof value !== 'number') return undefined;
  return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 && !Object.is(value, -0) ? 'int' : 'double';
}

function numbersOf(values: readonly unknown[]): { numbers: unknown[]; kind: Kind } {
  const numbers: unknown[] = [];
  let kind: Kind = 'int';
  for (const value of values) {
    const k = kindOf(value);
    if (!k) continue;
    numbers.push(value);
    if (RANK[k] > RANK[kind]) kind = k;
  }
  return { numbers, kind };
}

function asNumber(value: unknown): number {
  if (value instanceof Decimal128) return Number(value.toString());
  if (value instanceof Long) return value.toNumber();
  if (value instanceof Double) return value.value;
  return value as number;
}

function sum(values: readonly unknown[]): unknown {
  const { numbers, kind } = numbersOf(values);
  if (kind === 'decimal') return numbers.reduce<DecimalValue>((acc, v) => acc.add(DecimalValue.of(v)), DecimalValue.of(0)).toDecimal128();
  if (kind === 'double') return new Double(numbers.reduce<number>((acc, v) => acc + asNumber(v), 0));
  const total = numbers.reduce<bigint>((acc, v) => acc + (v instanceof Long ? v.toBigInt() : BigInt(v as number)), 0n);
  if (kind === 'int' && total >= INT32_MIN && total <= INT32_MAX) return Number(total);
  if (total >= INT64_MIN && total <= INT64_MAX) return Long.fromBigInt(total);
  return new Double(Number(total));
}

function average(values: readonly unknown[]): unknown {
  const { numbers, kind } = numbersOf(values);
  if (numbers.length === 0) return null;
  if (kind === 'decimal') {
    const total = numbers.reduce<DecimalValue>((acc, v) => acc.add(DecimalValue.of(v)), DecimalValue.of(0));
    return total.divide(BigInt(numbers.length)).toDecimal128();
  }
  const total =
    kind === 'double'
      ? numbers.reduce<number>((acc, v) => acc + asNumber(v), 0)
      : Number(numbers.reduce<bigint>((acc, v) => acc + (v instanceof Long ? v.toBigInt() : BigInt(v as number)), 0n));
  return new Double(total / numbers.length);
}
