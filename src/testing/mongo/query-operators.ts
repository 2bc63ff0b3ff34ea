import { BSONRegExp, Decimal128, Long, type Document } from 'bson';
import { Context } from 'mingo';
import type { Any, Options } from 'mingo/types';
import { matchesBsonType } from './bson-json-schema.js';
import { BsonOrder } from './bson-order.js';
import { BsonValues, exactNumber, MISSING } from './bson-values.js';
import type { Collation } from './collation.js';
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
  const wanted = (operand as ExactOperand).values.map((v) => BsonValues.canonicalKey(v));
  return (obj: Any) => {
    const doc = BsonValues.originalOf(obj);
    return BsonValues.valuesAtPath(doc, selector).some((v) => wanted.includes(BsonValues.canonicalKey(v)));
  };
}

/** `$gt`/`$gte`/`$lt`/`$lte` with a number or string operand, decided on the stored values in mongod's BSON order. */
class RangeOperand {
  readonly value: unknown;
  readonly collation: Collation | undefined;

  constructor(value: unknown, collation: Collation | undefined) {
    this.value = value;
    this.collation = collation;
  }
}

const RANGE_TESTS: Readonly<Record<string, (order: number) => boolean>> = {
  $gt: (c) => c > 0,
  $gte: (c) => c >= 0,
  $lt: (c) => c < 0,
  $lte: (c) => c <= 0,
};

/**
 * A range test on the stored values at the path (array elements included):
 * only values of the operand's type bracket compare (numbers with numbers,
 * by exact value; strings with strings, by code point or under the collation
 * with ICU's order, at every strength), as the manual's "Comparison/Sort
 * Order" page says range operators do.
 */
function rangeOperator(op: string): (selector: string, operand: Any) => (obj: Any) => boolean {
  const test = RANGE_TESTS[op]!;
  return (selector, operand) => {
    const { value, collation } = operand as RangeOperand;
    const numeric = exactNumber(value) !== undefined;
    return (obj) =>
      BsonValues.valuesAtPath(BsonValues.originalOf(obj), selector).some(
        (v) => (numeric ? exactNumber(v) !== undefined : typeof v === 'string') && test(BsonOrder.compare(v, value, collation)),
      );
  };
}

/** `$elemMatch`, decided on the stored elements (mingo's would see rounded numbers and folded strings). */
class ElemMatchOperand {
  readonly test: (element: unknown) => boolean;

  constructor(test: (element: unknown) => boolean) {
    this.test = test;
  }
}

function $elemMatch(selector: string, operand: Any): (obj: Any) => boolean {
  const { test } = operand as ElemMatchOperand;
  return (obj) =>
    BsonValues.valuesAtPath(BsonValues.originalOf(obj), selector, false).some((value) => Array.isArray(value) && value.some((element) => test(element)));
}

/** A regular expression tested on the stored strings: mongod ignores the collation for `$regex` (manual, "$regex"). */
class RegexOperand {
  readonly regex: RegExp;

  constructor(regex: RegExp) {
    this.regex = regex;
  }
}

function $regexUncollated(selector: string, operand: Any): (obj: Any) => boolean {
  const { regex } = operand as RegexOperand;
  return (obj) => BsonValues.valuesAtPath(BsonValues.originalOf(obj), selector).some((v) => typeof v === 'string' && regex.test(v));
}

/** The field paths an `$expr` reads; refuses when they hold values its double arithmetic would get wrong. */
class ExprGuardOperand {
  readonly paths: readonly string[];

  constructor(paths: readonly string[]) {
    this.paths = paths;
  }
}

function $exprGuard(_selector: string, operand: Any): (obj: Any) => boolean {
  const { paths } = operand as ExprGuardOperand;
  return (obj) => {
    const doc = BsonValues.originalOf(obj);
    for (const path of paths) {
      const values = path === '' ? [doc] : BsonValues.valuesAtPath(doc, path);
      if (values.some(holdsInexactNumber)) {
        throw new CommandError(
          'CommandNotSupported',
          `$expr over int64 values beyond 2^53 or Decimal128 values (${path === '' ? 'the whole document' : `field '${path}'`}) is not supported by the MongoDB stand-in`,
        );
      }
    }
    return true;
  };
}

/** True when a value (or anything inside it) is a Decimal128 or an int64 a double cannot hold exactly. */
export function holdsInexactNumber(value: unknown): boolean {
  if (needsExact(value)) return true;
  if (Array.isArray(value)) return value.some(holdsInexactNumber);
  return BsonValues.isPlainObject(value) && Object.values(value).some(holdsInexactNumber);
}

/** The field paths (`$a.b` → `a.b`) an aggregation expression reads; `''` for `$$ROOT`/`$$CURRENT`. */
export function expressionPaths(expression: unknown): string[] {
  const out: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.startsWith('$$')) {
        if (/^\$\$(ROOT|CURRENT)(\.|$)/.test(value)) out.push(value.replace(/^\$\$(ROOT|CURRENT)\.?/, ''));
      } else if (value.startsWith('$') && value.length > 1) out.push(value.slice(1));
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (BsonValues.isPlainObject(value)) Object.values(value).forEach(visit);
  };
  visit(expression);
  return out;
}

/** The stand-in's operators, under names of their own: mingo's context lets its built-in operators win. */
const TYPE_OPERATOR = '$__standInType';
const EXACT_IN_OPERATOR = '$__standInExactIn';
const RANGE_OPERATORS: Readonly<Record<string, string>> = { $gt: '$__standInGt', $gte: '$__standInGte', $lt: '$__standInLt', $lte: '$__standInLte' };
const ELEM_MATCH_OPERATOR = '$__standInElemMatch';
const REGEX_OPERATOR = '$__standInRegex';
const EXPR_GUARD_OPERATOR = '$__standInExprGuard';

/** Query operators added to mingo's. */
export const QUERY_CONTEXT = Context.init({
  query: {
    [TYPE_OPERATOR]: $type,
    [EXACT_IN_OPERATOR]: $exactIn,
    [ELEM_MATCH_OPERATOR]: $elemMatch,
    [REGEX_OPERATOR]: $regexUncollated,
    [EXPR_GUARD_OPERATOR]: $exprGuard,
    ...Object.fromEntries(Object.entries(RANGE_OPERATORS).map(([op, name]) => [name, rangeOperator(op)])),
  } as unknown as Record<string, (selector: string, value: Any, options: Options) => (obj: Any) => boolean>,
});

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

/** What `prepare` needs from its caller. */
export interface PrepareContext {
  /** The command's effective collation (ranges compare strings under it; regexes ignore its folding). */
  readonly collation?: Collation | undefined;
  /** Compiles a nested filter (an `$elemMatch` on elements) with the same collation. */
  readonly compile?: ((filter: Document) => (doc: Document) => boolean) | undefined;
}

/** Query-document keys whose values are lists of filters. */
const LOGICAL = new Set(['$and', '$or', '$nor']);

/** Filter rewrites applied before mingo sees a filter. */
export const QueryOperators = {
  /**
   * Rewrites, on the stored-type filter before its query view is made:
   * `$regex` with the `x` option (PCRE extended, which JavaScript's RegExp
   * cannot compile), `$type` to the BSON-faithful operator, equality/`$in`
   * against int64 beyond 2^53 or Decimal128 to exact comparison, range
   * operators on numbers and strings to BSON-order comparison of the stored
   * values (exact numbers; strings by code point or the collation),
   * `$elemMatch` to matching of the stored elements, a `$regex` under a
   * case/diacritic-folding collation to matching of the unfolded strings, and
   * guards `$expr` against int64/Decimal128 values. Returns the input itself
   * when nothing changes.
   * @throws CommandError 2 for `$where`, as a mongod with scripting disabled answers; 115 for `$in` with
   * regular expressions under a folding collation.
   */
  prepare<T>(filter: T, context: PrepareContext = {}): T {
    if (Array.isArray(filter)) {
      const mapped = filter.map((v: unknown) => QueryOperators.prepare(v, context));
      return (mapped.some((v, i) => v !== filter[i]) ? mapped : filter) as T;
    }
    if (!BsonValues.isPlainObject(filter)) return filter;
    let changed = false;
    const out: Document = {};
    for (const [key, value] of Object.entries(filter)) {
      if (key === '$where') {
        throw new CommandError(
          'BadValue',
          '$where is not supported by the MongoDB stand-in (no server-side JavaScript): no globalScriptEngine in $where parsing',
        );
      }
      const next: unknown = LOGICAL.has(key) ? QueryOperators.prepare(value, context) : key.startsWith('$') ? value : prepareCondition(value, context);
      out[key] = next;
      if (next !== value) changed = true;
    }
    if ('$expr' in filter) {
      const paths = expressionPaths(filter.$expr);
      if (paths.length > 0) return { $and: [{ _id: { [EXPR_GUARD_OPERATOR]: new ExprGuardOperand(paths) } }, out] } as T;
    }
    return (changed ? out : filter) as T;
  },
};

/** One field's condition: a value (equality), a regular expression, or an object of operators. */
function prepareCondition(condition: unknown, context: PrepareContext): unknown {
  const collation = context.collation?.spec;
  if ((collation?.numericOrdering === true || collation?.alternate === 'shifted') && comparesStringsForEquality(condition)) {
    // Equality under these options ("10" = "010", "a-b" = "ab") follows ICU collation elements, which folding does not model.
    const option = collation.numericOrdering === true ? 'numericOrdering' : "alternate 'shifted'";
    throw new CommandError('CommandNotSupported', `string equality under a collation with ${option} is not supported by the MongoDB stand-in`);
  }
  const exact = exactCondition(condition);
  if (exact) return exact;
  const folds = context.collation?.foldsForMatching === true;
  if (condition instanceof RegExp || condition instanceof BSONRegExp) {
    return folds ? { [REGEX_OPERATOR]: new RegexOperand(toRegExp(condition)) } : condition;
  }
  if (!BsonValues.isPlainObject(condition) || !Object.keys(condition).some((k) => k.startsWith('$'))) return condition;
  let spec: Document = condition;
  if (typeof spec.$regex === 'string' && typeof spec.$options === 'string' && spec.$options.includes('x')) {
    spec = { ...spec, $regex: stripExtended(spec.$regex), $options: spec.$options.replaceAll('x', '') };
  }
  const out: Document = {};
  for (const [op, arg] of Object.entries(spec)) {
    if (op === '$regex' && folds) {
      out[REGEX_OPERATOR] = new RegexOperand(toRegExp(arg, spec.$options));
    } else if (op === '$options' && folds && '$regex' in spec) {
      continue;
    } else if (op === '$type') {
      out[TYPE_OPERATOR] = arg;
    } else if (op in RANGE_OPERATORS && (exactNumber(arg) !== undefined || typeof arg === 'string')) {
      out[RANGE_OPERATORS[op]!] = new RangeOperand(arg, context.collation);
    } else if (op === '$elemMatch' && context.compile && BsonValues.isPlainObject(arg)) {
      out[ELEM_MATCH_OPERATOR] = new ElemMatchOperand(elementTest(arg, context.compile));
    } else if (op === '$not') {
      out[op] = prepareCondition(arg, context);
    } else if ((op === '$in' || op === '$nin') && folds && Array.isArray(arg) && arg.some((v) => v instanceof RegExp || v instanceof BSONRegExp)) {
      throw new CommandError(
        'CommandNotSupported',
        `${op} with regular expressions under a collation of strength 1 or 2 is not supported by the MongoDB stand-in`,
      );
    } else {
      out[op] = arg;
    }
  }
  return out;
}

/** True when a condition tests a string by equality (`{f: 's'}`, `$eq`, `$ne`, `$in`, `$nin`), where ranges and regexes do not. */
function comparesStringsForEquality(condition: unknown): boolean {
  if (typeof condition === 'string') return true;
  if (Array.isArray(condition)) return condition.some((v) => typeof v === 'string');
  if (!BsonValues.isPlainObject(condition)) return false;
  return Object.entries(condition).some(([op, arg]) =>
    op === '$eq' || op === '$ne' || op === '$in' || op === '$nin'
      ? comparesStringsForEquality(arg)
      : op === '$not'
        ? comparesStringsForEquality(arg)
        : !op.startsWith('$') && comparesStringsForEquality(arg),
  );
}

/** An `$elemMatch` spec as a test of one stored element: operators apply to the element, a query to an embedded document. */
function elementTest(spec: Document, compile: (filter: Document) => (doc: Document) => boolean): (element: unknown) => boolean {
  const keys = Object.keys(spec);
  const onValue = keys.length > 0 && keys.every((k) => k.startsWith('$') && !LOGICAL.has(k) && k !== '$expr' && k !== '$where');
  if (onValue) {
    const matches = compile({ v: spec });
    return (element) => matches({ v: element });
  }
  const matches = compile(spec);
  return (element) => BsonValues.isPlainObject(element) && matches(element);
}

function toRegExp(pattern: unknown, options?: unknown): RegExp {
  if (pattern instanceof RegExp) return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  const source = pattern instanceof BSONRegExp ? pattern.pattern : String(pattern);
  const flags = pattern instanceof BSONRegExp ? pattern.options : typeof options === 'string' ? options : '';
  return new RegExp(source, [...new Set(flags)].filter((f) => 'ims'.includes(f)).join(''));
}

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
