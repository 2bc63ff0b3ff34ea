import { Decimal128, Double, Int32, Long, Timestamp, type Document } from 'bson';
import { BsonOrder } from './bson-order.js';
import { BsonValues, MISSING } from './bson-values.js';
import { CommandError } from './command-error.js';
import { DecimalValue } from './decimal-value.js';

/** Operators this module applies itself (BSON-typed, exact comparisons), when their path has no positional part. */
const TYPED = new Set(['$inc', '$mul', '$min', '$max', '$addToSet', '$currentDate', '$pull', '$pullAll']);

/** A `$push` with `$sort` is applied here too (mingo would sort rounded numbers). */
function isTyped(op: string, arg: unknown): boolean {
  return TYPED.has(op) || (op === '$push' && BsonValues.isPlainObject(arg) && '$each' in arg && '$sort' in arg);
}

/** Compiles a `$pull` condition into a test of stored values (the stand-in's matcher). */
export type FilterCompiler = (filter: Document) => (doc: Document) => boolean;

export interface PreparedUpdate {
  /** What is left for mingo (positional paths and the operators mingo gets right). */
  readonly rest: Document;
  /** Operators applied by {@link UpdateOperators.applyTyped}, in request order. */
  readonly typed: ReadonlyArray<readonly [op: string, path: string, arg: unknown]>;
}

/**
 * The part of update semantics mingo does not model: conflicting paths (40),
 * type errors against the current document (14, 2, 28), and BSON-typed
 * arithmetic for `$inc`/`$mul` (int32 overflow promotes to int64, int64
 * overflow fails, Decimal128 stays exact), `$min`/`$max` in BSON order keeping
 * the operand's type, `$addToSet` with field-order-aware
 * equality and `$currentDate` timestamps. Rules from the MongoDB manual's
 * update-operator pages and mongod's `update/arithmetic_node.cpp`.
 */
export const UpdateOperators = {
  /**
   * Validates `update` against `doc` and splits it.
   * @throws CommandError 40, 14, 2 or 28 before anything is changed.
   */
  prepare(doc: Document, update: Document, resolvePositional?: (path: string) => string[]): PreparedUpdate {
    // mongod parses each modifier (its init checks the argument) before merging the paths (conflicts, 40).
    for (const [op, spec] of Object.entries(update))
      if (BsonValues.isPlainObject(spec)) for (const [path, arg] of Object.entries(spec)) checkArgument(op, path, arg);
    checkConflicts(update);
    const rest: Document = {};
    const typed: Array<[string, string, unknown]> = [];
    for (const [op, spec] of Object.entries(update)) {
      if (!BsonValues.isPlainObject(spec)) {
        throw new CommandError(
          'FailedToParse',
          `Modifiers operate on fields but we found type ${typeName(spec)} instead. For example: {$mod: {<field>: ...}} not {${op}: ${BsonValues.format(spec)}}`,
        );
      }
      const kept: Document = {};
      for (const [path, arg] of Object.entries(spec)) {
        if (op === '$rename') checkRename(doc, path, arg as string);
        // A positional path (`a.$`, `a.$[]`, `a.$[x]`) is checked and, for typed operators, applied at each element it names.
        const targets = !isPositional(path) ? [path] : resolvePositional && op !== '$setOnInsert' ? resolvePositional(path) : undefined;
        for (const target of targets ?? []) checkTarget(doc, op, target);
        if (isTyped(op, arg) && targets) for (const target of targets) typed.push([op, target, arg]);
        else kept[path] = arg;
      }
      if (Object.keys(kept).length > 0) rest[op] = kept;
    }
    return { rest, typed };
  },

  /** True when some path of the update uses the positional `$` (it needs the query). */
  usesPositional(update: Document): boolean {
    return Object.values(update).some((spec) => BsonValues.isPlainObject(spec) && Object.keys(spec).some((p) => /(^|\.)\$(\.|$)/.test(p)));
  },

  /** Applies the typed operators to `doc` in place (a copy the caller owns). */
  applyTyped(doc: Document, typed: PreparedUpdate['typed'], compile: FilterCompiler): void {
    for (const [op, path, arg] of typed) {
      const { parent, key } = resolveForWrite(doc, path);
      const current: unknown = Array.isArray(parent) ? parent[Number(key)] : (parent as Document)[key];
      // Manual, update/pull and pullAll: a missing field stays missing.
      if ((op === '$pull' || op === '$pullAll') && current === undefined) continue;
      let next: unknown;
      if (op === '$inc') next = current === undefined ? arg : arithmetic('$inc', current, arg, doc);
      else if (op === '$mul') next = current === undefined ? zeroLike(arg) : arithmetic('$mul', current, arg, doc);
      else if (op === '$currentDate') next = currentDate(arg);
      // Manual, update/min and update/max: BSON comparison order across types; the operand is stored as given.
      else if (op === '$min') next = current === undefined || BsonOrder.compare(arg, current) < 0 ? arg : current;
      else if (op === '$max') next = current === undefined || BsonOrder.compare(arg, current) > 0 ? arg : current;
      else if (op === '$pull') next = pull(current as unknown[], arg, compile);
      else if (op === '$pullAll') next = (current as unknown[]).filter((e) => !(arg as unknown[]).some((v) => sameValue(e, v)));
      else if (op === '$push') next = pushSorted(current, arg as Document);
      else next = addToSet(current, arg);
      if (Array.isArray(parent)) {
        const index = Number(key);
        while (parent.length < index) parent.push(null);
        parent[index] = next;
      } else {
        (parent as Document)[key] = next;
      }
    }
  },
};

function isPositional(path: string): boolean {
  return path.split('.').some((part) => part.startsWith('$'));
}

function checkConflicts(update: Document): void {
  const seen: string[] = [];
  for (const [op, spec] of Object.entries(update)) {
    if (!BsonValues.isPlainObject(spec)) continue;
    for (const [path, arg] of Object.entries(spec)) {
      const paths = op === '$rename' && typeof arg === 'string' ? [path, arg] : [path];
      for (const p of paths) {
        for (const other of seen) {
          if (p === other || p.startsWith(`${other}.`) || other.startsWith(`${p}.`)) {
            const shorter = p.length <= other.length ? p : other;
            throw new CommandError('ConflictingUpdateOperators', `Updating the path '${p}' would create a conflict at '${shorter}'`);
          }
        }
        seen.push(p);
      }
    }
  }
}

/** mongod update/rename_node.cpp: neither end of a rename may pass through an array. @throws CommandError 2. */
function checkRename(doc: Document, from: string, to: string): void {
  for (const [which, path] of [
    ['source', from],
    ['destination', to],
  ] as const) {
    const parts = path.split('.');
    let current: unknown = doc;
    for (const part of parts.slice(0, -1)) {
      if (!BsonValues.isPlainObject(current) || !Object.hasOwn(current, part)) break;
      current = current[part];
      if (Array.isArray(current)) {
        throw new CommandError(
          'BadValue',
          `The ${which} field cannot be an array element, '${path}' in doc with _id: ${BsonValues.format(doc._id)} has an array field called '${part}'`,
        );
      }
    }
  }
}

/** mongod's argument checks at parse time (rename_node.cpp, push_node.cpp, pull_all_node.cpp, arithmetic_node.cpp, current_date_node.cpp). */
function checkArgument(op: string, path: string, arg: unknown): void {
  if (op === '$rename') {
    const expr = `${path}: ${BsonValues.format(arg)}`;
    if (typeof arg !== 'string') throw new CommandError('BadValue', `The 'to' field for $rename must be a string: ${expr}`);
    if (arg === path) throw new CommandError('BadValue', `The source and target field for $rename must differ: ${expr}`);
    if (arg.startsWith(`${path}.`) || path.startsWith(`${arg}.`)) {
      throw new CommandError('BadValue', `The source and target field for $rename must not be on the same path: ${expr}`);
    }
    if (isPositional(path)) throw new CommandError('BadValue', `The source field for $rename may not be dynamic: ${path}`);
    if (isPositional(arg)) throw new CommandError('BadValue', `The destination field for $rename may not be dynamic: ${arg}`);
  }
  if (op === '$push' && BsonValues.isPlainObject(arg) && '$each' in arg && !Array.isArray(arg.$each)) {
    throw new CommandError('BadValue', `The argument to $each in $push must be an array but it was of type: ${typeName(arg.$each)}`);
  }
  if (op === '$pullAll' && !Array.isArray(arg)) throw new CommandError('BadValue', `$pullAll requires an array argument but was given a ${typeName(arg)}`);
  if ((op === '$inc' || op === '$mul') && !isNumeric(arg)) {
    const verb = op === '$inc' ? 'increment' : 'multiply';
    throw new CommandError('TypeMismatch', `Cannot ${verb} with non-numeric argument: {${path}: ${BsonValues.format(arg)}}`);
  }
  if (op === '$currentDate') {
    const ok =
      arg === true || arg === false || (BsonValues.isPlainObject(arg) && (arg.$type === 'date' || arg.$type === 'timestamp') && Object.keys(arg).length === 1);
    if (!ok) throw new CommandError('BadValue', `The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}`);
  }
}

/** Checks the value the operator will meet at `path` (no positional parts). */
function checkTarget(doc: Document, op: string, path: string): void {
  const parts = path.split('.');
  let current: unknown = doc;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i > 0 && current !== MISSING && !BsonValues.isPlainObject(current) && !(Array.isArray(current) && /^\d+$/.test(part))) {
      if (op === '$unset' || op === '$pull' || op === '$pullAll' || op === '$pop' || op === '$rename') return;
      const parentPath = parts.slice(0, i).join('.');
      throw new CommandError('PathNotViable', `Cannot create field '${part}' in element {${parentPath.split('.').pop()}: ${BsonValues.format(current)}}`);
    }
    if (current === MISSING) return;
    current = Array.isArray(current) ? (current[Number(part)] ?? MISSING) : Object.hasOwn(current as Document, part) ? (current as Document)[part] : MISSING;
  }
  if (current === MISSING) return;
  const id = `{_id: ${BsonValues.format(doc._id)}}`;
  switch (op) {
    case '$inc':
    case '$mul':
      if (!isNumeric(current)) {
        throw new CommandError(
          'TypeMismatch',
          `Cannot apply ${op} to a value of non-numeric type. ${id} has the field '${parts[parts.length - 1]!}' of non-numeric type ${typeName(current)}`,
        );
      }
      return;
    case '$push':
    case '$addToSet':
      if (!Array.isArray(current))
        throw new CommandError('BadValue', `The field '${path}' must be an array but is of type ${typeName(current)} in document ${id}`);
      return;
    case '$pull':
    case '$pullAll':
      if (!Array.isArray(current)) throw new CommandError('BadValue', 'Cannot apply $pull to a non-array value');
      return;
    case '$pop':
      if (!Array.isArray(current)) throw new CommandError('TypeMismatch', `Path '${path}' contains an element of non-array type '${typeName(current)}'`);
      return;
    case '$bit':
      // mongod update/bit_node.cpp.
      if (!(current instanceof Long || current instanceof Int32 || (typeof current === 'number' && typeName(current) === 'int'))) {
        throw new CommandError(
          'BadValue',
          `Cannot apply $bit to a value of non-integral type.${id} has the field ${parts[parts.length - 1]!} of non-integer type ${typeName(current)}`,
        );
      }
      return;
    default:
      return;
  }
}

function resolveForWrite(doc: Document, path: string): { parent: Document | unknown[]; key: string } {
  const parts = path.split('.');
  let current: Document | unknown[] = doc;
  for (const part of parts.slice(0, -1)) {
    const next: unknown = Array.isArray(current) ? current[Number(part)] : current[part];
    if (next === undefined || next === null) {
      const created: Document = {};
      if (Array.isArray(current)) current[Number(part)] = created;
      else current[part] = created;
      current = created;
    } else {
      current = next as Document | unknown[];
    }
  }
  return { parent: current, key: parts[parts.length - 1]! };
}

function isNumeric(value: unknown): boolean {
  return typeof value === 'number' || value instanceof Long || value instanceof Decimal128 || value instanceof Double;
}

/** mongod's type names, as used in its error messages and `$type`. */
export function typeName(value: unknown): string {
  if (value === null || value === MISSING) return 'null';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 && !Object.is(value, -0) ? 'int' : 'double';
  if (value instanceof Double) return 'double';
  if (value instanceof Long) return 'long';
  if (value instanceof Decimal128) return 'decimal';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'date';
  if (value instanceof Timestamp) return 'timestamp';
  if (value instanceof RegExp) return 'regex';
  if (BsonValues.isPlainObject(value)) return 'object';
  const bsontype = (value as { _bsontype?: unknown })._bsontype;
  return typeof bsontype === 'string' ? bsontype.charAt(0).toLowerCase() + bsontype.slice(1) : 'object';
}

type NumberKind = 'int' | 'long' | 'double' | 'decimal';

function kindOf(value: unknown): NumberKind {
  const name = typeName(value);
  return name === 'int' || name === 'long' || name === 'decimal' ? name : 'double';
}

const KIND_RANK: Record<NumberKind, number> = { int: 0, long: 1, double: 2, decimal: 3 };
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function arithmetic(op: '$inc' | '$mul', current: unknown, arg: unknown, doc: Document): unknown {
  const a = kindOf(current);
  const b = kindOf(arg);
  const kind = KIND_RANK[a] >= KIND_RANK[b] ? a : b;
  if (kind === 'decimal') {
    const x = DecimalValue.of(current);
    const y = DecimalValue.of(arg);
    return (op === '$inc' ? x.add(y) : x.multiply(y)).toDecimal128();
  }
  if (kind === 'double') {
    const r = op === '$inc' ? toNumber(current) + toNumber(arg) : toNumber(current) * toNumber(arg);
    return Number.isInteger(r) && r >= -(2 ** 31) && r < 2 ** 31 ? new Double(r) : r;
  }
  const x = toBigInt(current);
  const y = toBigInt(arg);
  const r = op === '$inc' ? x + y : x * y;
  if (kind === 'int' && r >= -(2n ** 31n) && r < 2n ** 31n) return Number(r);
  if (r < INT64_MIN || r > INT64_MAX) {
    throw new CommandError(
      'BadValue',
      `Failed to apply ${op} operations to current value ((NumberLong)${toBigInt(current).toString()}) for document {_id: ${BsonValues.format(doc._id)}}`,
    );
  }
  return Long.fromBigInt(r);
}

function zeroLike(arg: unknown): unknown {
  const kind = kindOf(arg);
  if (kind === 'decimal') return Decimal128.fromString('0');
  if (kind === 'long') return Long.ZERO;
  if (kind === 'double') return new Double(0);
  return 0;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value instanceof Decimal128) return Number(value.toString());
  return (value as Long | Double).valueOf() as number;
}

function toBigInt(value: unknown): bigint {
  if (value instanceof Long) return value.toBigInt();
  return BigInt(toNumber(value));
}

let timestampIncrement = 0;

function currentDate(arg: unknown): unknown {
  const now = Date.now();
  if (BsonValues.isPlainObject(arg) && arg.$type === 'timestamp') {
    timestampIncrement = (timestampIncrement + 1) % 0xffffffff;
    return new Timestamp({ t: Math.floor(now / 1000), i: timestampIncrement });
  }
  return new Date(now);
}

/** mongod's value equality: BSON order says equal (numbers by exact value across types; documents field by field, in order). */
function sameValue(a: unknown, b: unknown): boolean {
  return BsonOrder.compare(a, b) === 0;
}

/**
 * Manual, update/pull: a condition with operators applies to each element, a
 * document without them is a query on embedded documents, any other value
 * removes the elements equal to it.
 */
function pull(current: unknown[], arg: unknown, compile: FilterCompiler): unknown[] {
  if (!BsonValues.isPlainObject(arg)) return current.filter((e) => !sameValue(e, arg));
  const keys = Object.keys(arg);
  if (keys.length > 0 && keys.every((k) => k.startsWith('$') && k !== '$and' && k !== '$or' && k !== '$nor')) {
    const matches = compile({ v: arg });
    return current.filter((e) => !matches({ v: e }));
  }
  const matches = compile(arg);
  return current.filter((e) => !(BsonValues.isPlainObject(e) && matches(e)));
}

/** Manual, update/push: `$each` inserted at `$position`, then `$sort` (BSON order), then `$slice`. */
function pushSorted(current: unknown, arg: Document): unknown[] {
  const each = arg.$each as unknown[];
  const out = Array.isArray(current) ? [...(current as unknown[])] : [];
  const position = typeof arg.$position === 'number' ? arg.$position : out.length;
  out.splice(position < 0 ? Math.max(0, out.length + position) : Math.min(position, out.length), 0, ...each.map((v) => BsonValues.clone(v)));
  const sort: unknown = arg.$sort;
  let sorted: unknown[];
  if (sort === 1 || sort === -1) {
    sorted = out
      .map((value, index) => ({ value, index }))
      .sort((x, y) => BsonOrder.compare(x.value, y.value) * sort || x.index - y.index)
      .map((e) => e.value);
  } else if (BsonValues.isPlainObject(sort) && Object.values(sort).every((d) => d === 1 || d === -1)) {
    sorted = BsonOrder.sort(out as Document[], sort as Record<string, 1 | -1>);
  } else {
    throw new CommandError('BadValue', 'The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields');
  }
  const slice: unknown = arg.$slice;
  if (typeof slice !== 'number') return sorted;
  return slice >= 0 ? sorted.slice(0, slice) : sorted.slice(Math.max(0, sorted.length + slice));
}

function addToSet(current: unknown, arg: unknown): unknown[] {
  const values: unknown[] = BsonValues.isPlainObject(arg) && Object.keys(arg)[0] === '$each' ? (arg.$each as unknown[]) : [arg];
  if (!Array.isArray(values))
    throw new CommandError('TypeMismatch', `The argument to $each in $addToSet must be an array but it was of type ${typeName(values)}`);
  const out = Array.isArray(current) ? [...(current as unknown[])] : [];
  const keys = new Set(out.map((v) => BsonValues.canonicalKey(v)));
  for (const value of values) {
    const key = BsonValues.canonicalKey(value);
    if (keys.has(key)) continue;
    keys.add(key);
    out.push(BsonValues.clone(value));
  }
  return out;
}
