import type { Document } from 'bson';
import { BsonValues } from './bson-values.js';
import type { Collation } from './collation.js';
import { CommandError } from './command-error.js';
import { expressionPaths, holdsInexactNumber } from './query-operators.js';

/** Stages whose string comparisons a strength-1/2 collation would change (mingo compares binary). */
const COLLATION_SENSITIVE_STAGES = new Set(['$group', '$bucket', '$bucketAuto', '$sortByCount', '$lookup', '$graphLookup', '$setWindowFields', '$unionWith']);
/** Accumulators whose result mingo would compute or copy as doubles (a first $group computes them typed, see TypedAccumulators). */
const TYPED_ACCUMULATORS = new Set(['$sum', '$avg', '$min', '$max', '$first', '$last', '$push', '$addToSet']);
/**
 * Expression operators whose result mongod computes in the operands' BSON
 * types (and compares exactly), where mingo works in doubles: with int64
 * beyond 2^53 or Decimal128 operands their answers would differ.
 */
const TYPED_EXPRESSIONS = new Set([
  '$add',
  '$subtract',
  '$multiply',
  '$divide',
  '$mod',
  '$abs',
  '$ceil',
  '$floor',
  '$round',
  '$trunc',
  '$pow',
  '$sqrt',
  '$exp',
  '$ln',
  '$log',
  '$log10',
  '$sum',
  '$avg',
  '$min',
  '$max',
  '$eq',
  '$ne',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$cmp',
  '$toLong',
  '$toDecimal',
  '$toDouble',
  '$toInt',
  '$convert',
  '$toString',
]);

/**
 * Refuses, with a command error naming the feature, the pipelines whose answer
 * the stand-in would get silently wrong: `$out`/`$merge`, stages that compare
 * strings under a case- or diacritic-insensitive collation (`$match` and
 * `$sort` are applied by the stand-in itself), accumulators over int64 or
 * Decimal128 fields beyond a first `$group`'s typed ones, and expressions
 * over int64 beyond 2^53 or Decimal128 values (mingo's arithmetic is
 * double-only; mongod keeps the type).
 */
export const PipelineGuard = {
  /**
   * Refuses (115) arithmetic or comparison expressions over fields that hold
   * int64 values beyond 2^53 or Decimal128 values in any of `docs`
   * (`$project`/`$addFields`/`$set` stages, `$expr`, pipeline updates).
   */
  checkExpressions(docs: readonly Document[], spec: unknown, where: string): void {
    const paths = typedExpressionPaths(spec);
    if (paths.length === 0) return;
    for (const doc of docs) {
      for (const path of paths) {
        const values = path === '' ? [doc] : BsonValues.valuesAtPath(doc, path);
        if (values.some(holdsInexactNumber)) {
          throw notSupported(
            `arithmetic or comparison expressions in ${where} over int64 values beyond 2^53 or Decimal128 values (field '${path || '$$ROOT'}')`,
          );
        }
      }
    }
  },

  check(docs: readonly Document[], pipeline: readonly Document[], collation: Collation | undefined): void {
    for (const stage of pipeline) {
      const name = Object.keys(stage)[0] ?? '';
      if (name === '$out' || name === '$merge') throw notSupported(`${name}`);
      const spec: unknown = stage[name];
      if (
        collation?.foldsForMatching &&
        COLLATION_SENSITIVE_STAGES.has(name) &&
        !(name === '$group' && BsonValues.isPlainObject(spec) && isConstant(spec._id))
      ) {
        throw notSupported(`${name} under a collation of strength ${collation.strength}`);
      }
      if (name !== '$group') PipelineGuard.checkExpressions(docs, spec, `the ${name} stage`);
      for (const path of arithmeticFieldPaths(spec)) {
        if (
          docs.some((doc) =>
            BsonValues.valuesAtPath(doc, path).some(
              (v) => (v as { _bsontype?: string } | null)?._bsontype === 'Long' || (v as { _bsontype?: string } | null)?._bsontype === 'Decimal128',
            ),
          )
        ) {
          throw notSupported(
            `accumulators over int64 or Decimal128 values (field '${path}'), other than a pipeline's first $group's $sum/$avg/$min/$max/$first/$last,`,
          );
        }
      }
    }
  },
};

/** The expressions of a stage or pipeline update, checked against `docs`. */
function typedExpressionPaths(spec: unknown): string[] {
  const out: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (BsonValues.isPlainObject(value)) {
      for (const [key, arg] of Object.entries(value)) {
        if (TYPED_EXPRESSIONS.has(key)) out.push(...expressionPaths(arg));
        else visit(arg);
      }
    }
  };
  visit(spec);
  return out;
}

function notSupported(feature: string): CommandError {
  return new CommandError('CommandNotSupported', `${feature} is not supported by the MongoDB stand-in`);
}

function isConstant(value: unknown): boolean {
  return value === null || typeof value === 'number' || typeof value === 'boolean' || (typeof value === 'string' && !value.startsWith('$'));
}

/** Field paths (`$a.b` → `a.b`) given to the typed accumulators anywhere in a stage. */
function arithmeticFieldPaths(spec: unknown): string[] {
  const out: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (BsonValues.isPlainObject(value)) {
      for (const [key, arg] of Object.entries(value)) {
        if (TYPED_ACCUMULATORS.has(key)) {
          for (const a of Array.isArray(arg) ? arg : [arg]) if (typeof a === 'string' && a.startsWith('$') && !a.startsWith('$$')) out.push(a.slice(1));
        }
        visit(arg);
      }
    }
  };
  visit(spec);
  return out;
}
