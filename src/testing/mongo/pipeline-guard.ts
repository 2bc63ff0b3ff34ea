import type { Document } from 'bson';
import { BsonValues } from './bson-values.js';
import type { Collation } from './collation.js';
import { CommandError } from './command-error.js';

/** Stages whose string comparisons a strength-1/2 collation would change (mingo compares binary). */
const COLLATION_SENSITIVE_STAGES = new Set([
  '$match',
  '$group',
  '$bucket',
  '$bucketAuto',
  '$sortByCount',
  '$lookup',
  '$graphLookup',
  '$setWindowFields',
  '$unionWith',
]);
const ARITHMETIC_ACCUMULATORS = new Set(['$sum', '$avg']);

/**
 * Refuses, with a command error naming the feature, the pipelines whose answer
 * the stand-in would get silently wrong: `$out`/`$merge`, stages that compare
 * strings under a case- or diacritic-insensitive collation (beyond a leading
 * `$match`, which the stand-in applies itself), and `$sum`/`$avg` over int64
 * or Decimal128 fields (mingo's arithmetic is double-only; mongod keeps the type).
 */
export const PipelineGuard = {
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
      for (const path of arithmeticFieldPaths(spec)) {
        if (
          docs.some((doc) =>
            BsonValues.valuesAtPath(doc, path).some(
              (v) => (v as { _bsontype?: string } | null)?._bsontype === 'Long' || (v as { _bsontype?: string } | null)?._bsontype === 'Decimal128',
            ),
          )
        ) {
          throw notSupported(`$sum/$avg over int64 or Decimal128 values (field '${path}')`);
        }
      }
    }
  },
};

function notSupported(feature: string): CommandError {
  return new CommandError('CommandNotSupported', `${feature} is not supported by the MongoDB stand-in`);
}

function isConstant(value: unknown): boolean {
  return value === null || typeof value === 'number' || typeof value === 'boolean' || (typeof value === 'string' && !value.startsWith('$'));
}

/** Field paths (`$a.b` → `a.b`) given to `$sum`/`$avg` anywhere in a stage. */
function arithmeticFieldPaths(spec: unknown): string[] {
  const out: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (BsonValues.isPlainObject(value)) {
      for (const [key, arg] of Object.entries(value)) {
        if (ARITHMETIC_ACCUMULATORS.has(key)) {
          for (const a of Array.isArray(arg) ? arg : [arg]) if (typeof a === 'string' && a.startsWith('$') && !a.startsWith('$$')) out.push(a.slice(1));
        }
        visit(arg);
      }
    }
  };
  visit(spec);
  return out;
}
