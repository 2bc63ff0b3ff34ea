import type { Document } from 'bson';
import { update as mingoUpdate, ProcessingMode } from 'mingo';
import { Aggregator } from 'mingo/aggregator';
import { Context } from 'mingo/core';
import * as accumulatorOperators from 'mingo/operators/accumulator';
import * as expressionOperators from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import * as windowOperators from 'mingo/operators/window';
import { Query } from 'mingo/query';
import type { AnyObject, Options } from 'mingo/types';
import { BsonJsonSchema } from './bson-json-schema.js';
import { BsonOrder } from './bson-order.js';
import { BsonValues } from './bson-values.js';
import type { Collation } from './collation.js';
import { CommandError } from './command-error.js';
import { FindProjection } from './find-projection.js';
import { PipelineGuard } from './pipeline-guard.js';
import { expressionPaths, holdsInexactNumber, QUERY_CONTEXT, QueryOperators } from './query-operators.js';
import { UpdateOperators } from './update-operators.js';

export interface SelectOptions {
  readonly sort?: Document | undefined;
  readonly skip?: number | undefined;
  readonly limit?: number | undefined;
  readonly collation?: Collation | undefined;
  readonly variables?: Document | undefined;
}

export interface UpdateContext {
  /** The query that selected the document: gives positional `$` its meaning. */
  readonly filter: Document;
  readonly arrayFilters?: Document[] | undefined;
  /** True when the update builds an upserted document (`$setOnInsert` applies). */
  readonly isInsert: boolean;
  readonly variables?: Document | undefined;
}

/**
 * mingo's default operators (what its `mingo` entry point loads) with the stand-in's own
 * ({@link QUERY_CONTEXT}), merged once. The `mingo` entry point's `Query` merges the two contexts
 * again for every query it builds — a copy of some 250 operator tables, most of the stand-in's cost
 * per `find` (a mongod builds no operator table per query) — so the core classes get this one.
 */
const MERGED_CONTEXT = Context.from(
  Context.init({
    accumulator: accumulatorOperators,
    expression: expressionOperators,
    pipeline: pipelineOperators,
    projection: projectionOperators,
    query: queryOperators,
    window: windowOperators,
  }),
  QUERY_CONTEXT,
);

/**
 * The one place that calls mingo, closing its known gaps against mongod:
 * Long/Decimal128 are compared as numbers through a query view, projected
 * fields keep the document's order with `_id` first, `$setOnInsert` is
 * applied here, and mingo's errors become mongod-style command errors.
 */
export class MingoAdapter {
  static options(
    extra: { collation?: Collation | undefined; variables?: Document | undefined; resolver?: ((name: string) => AnyObject[]) | undefined } = {},
  ): Partial<Options> {
    return {
      context: MERGED_CONTEXT,
      jsonSchemaValidator: (schema: AnyObject) => {
        const validate = BsonJsonSchema.compile(schema);
        return (doc: unknown) => validate(BsonValues.originalOf(doc));
      },
      ...(extra.collation ? { collation: extra.collation.spec as unknown as Options['collation'] } : {}),
      ...(extra.variables ? { variables: extra.variables } : {}),
      ...(extra.resolver ? { collectionResolver: extra.resolver } : {}),
    };
  }

  /** A reusable predicate for a filter (also used for validators and partial indexes). */
  static matcher(filter: Document, extra: { variables?: Document | undefined; collation?: Collation | undefined } = {}): (doc: Document) => boolean {
    const fold = extra.collation?.foldsForMatching ? extra.collation : undefined;
    const context = { collation: extra.collation, compile: (nested: Document) => MingoAdapter.matcher(nested, extra) };
    const prepared = BsonValues.toQueryView(QueryOperators.prepare(filter, context));
    const query = translate(() => new Query(fold ? fold.foldDeep(prepared) : prepared, MingoAdapter.options({ variables: extra.variables })), 'BadValue');
    return (doc: Document) =>
      translate(() => {
        let view = BsonValues.toQueryView(doc);
        if (fold) {
          view = fold.foldDeep(view);
          BsonValues.linkView(view, doc);
        }
        return query.test(view);
      }, 'BadValue');
  }

  /**
   * Documents matching `filter`, sorted/skipped/limited; returns the stored
   * objects themselves. Under a collation of strength 1 or 2 strings match
   * folded (case- and, at 1, diacritic-insensitive); ranges compare strings
   * under the collation; sorting follows mongod's BSON order (see BsonOrder)
   * with the collation's string order.
   */
  static select(docs: readonly Document[], filter: Document, options: SelectOptions = {}): Document[] {
    const matches = MingoAdapter.matcher(filter, { collation: options.collation, variables: options.variables });
    let selected = docs.filter((doc) => matches(doc));
    const sort = normaliseSort(options.sort);
    if (sort.spec) selected = BsonOrder.sort(selected, sort.spec, options.collation);
    if (sort.reverse) selected = selected.reverse();
    const skip = options.skip ?? 0;
    if (skip > 0) selected = selected.slice(skip);
    if (options.limit !== undefined && options.limit > 0) selected = selected.slice(0, options.limit);
    return selected;
  }

  /**
   * A find-style projection. Included fields keep the document's order (mongod
   * walks the document), computed fields follow; `_id` stays first. `$slice`
   * and the positional `field.$` are applied by FindProjection.
   */
  static project(doc: Document, projection: Document | undefined, filter: Document = {}): Document {
    return MingoAdapter.projector(projection, filter)(doc);
  }

  /** {@link project} for every document of one command: the projection is planned once, as mongod plans it once per query. */
  static projector(projection: Document | undefined, filter: Document = {}): (doc: Document) => Document {
    if (!projection || Object.keys(projection).length === 0) return (doc) => doc;
    const plan = FindProjection.plan(projection);
    const rest = Object.keys(plan.rest).length === 0 ? undefined : new Query({}, MingoAdapter.options());
    // Built at the first positional projection that needs it, then kept for the command's other documents.
    let matches: ((candidate: Document) => boolean) | undefined;
    const matchesFilter = (candidate: Document) => (matches ??= MingoAdapter.matcher(filter))(candidate);
    return (doc) => {
      let projected: Document;
      if (rest === undefined) {
        projected = BsonValues.clone(doc);
      } else {
        const [out] = translate(() => rest.find<Document>([BsonValues.toQueryView(doc)], plan.rest).all(), 'BadValue');
        projected = BsonValues.restoreBsonTypes(doc, reorderLike(doc, out ?? {})) as Document;
      }
      return FindProjection.finish(doc, projected, plan, matchesFilter);
    };
  }

  /**
   * Applies an update (operators, replacement or pipeline) to a copy of `doc`
   * and returns the copy; `doc` is never mutated.
   */
  static applyUpdate(doc: Document, update: Document | Document[], context: UpdateContext): Document {
    const view = BsonValues.clone(BsonValues.toQueryView(doc));
    if (Array.isArray(update)) {
      PipelineGuard.checkExpressions([doc], update, 'a pipeline update');
      const [out] = translate(
        () => new Aggregator(update, { ...MingoAdapter.options({ variables: context.variables }), processingMode: ProcessingMode.CLONE_INPUT }).run([view]),
        'BadValue',
      );
      return BsonValues.restoreBsonTypes(doc, stripUndefined(out ?? {})) as Document;
    }
    if (isOperatorUpdate(update)) {
      for (const op of Object.keys(update)) {
        if (!op.startsWith('$')) {
          throw new CommandError('FailedToParse', `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
        }
      }
      const queryOptions = { ...MingoAdapter.options({ variables: context.variables }), ...(context.isInsert ? { idKey: '\u0000upsert-id' } : {}) };
      const filterView = UpdateOperators.usesPositional(update) ? BsonValues.toQueryView(context.filter) : undefined;
      // Which elements a positional path names: mingo sets a marker there on a copy, and the marked paths are read back.
      const resolvePositional = (path: string): string[] => {
        const probe = BsonValues.clone(view);
        translate(
          () => mingoUpdate(probe, { $set: { [path]: POSITIONAL_MARKER } }, context.arrayFilters, filterView, { cloneMode: 'deep', queryOptions }),
          'FailedToParse',
        );
        return markedPaths(probe, '');
      };
      const prepared = UpdateOperators.prepare(doc, update, resolvePositional);
      const modifier: Document = {};
      for (const [op, spec] of Object.entries(prepared.rest)) {
        if (op === '$setOnInsert') {
          if (context.isInsert) modifier.$set = { ...(modifier.$set as Document | undefined), ...(spec as Document) };
          continue;
        }
        if (op === '$set' && modifier.$set) {
          modifier.$set = { ...(spec as Document), ...(modifier.$set as Document) };
          continue;
        }
        modifier[op] = spec;
      }
      if (Object.keys(modifier).length > 0) {
        translate(
          () =>
            // Values to store go in as given (typed); only operators that compare see numbers.
            // mingo refuses any write to _id; an upsert may legitimately set it ($setOnInsert: {_id}): hence idKey.
            mingoUpdate(view, modifierView(modifier), context.arrayFilters, filterView, { cloneMode: 'deep', queryOptions }),
          'FailedToParse',
        );
      }
      const restored = BsonValues.restoreBsonTypes(doc, stripUndefined(view)) as Document;
      UpdateOperators.applyTyped(restored, prepared.typed, (filter) => MingoAdapter.matcher(filter, { variables: context.variables }));
      return restored;
    }
    // A replacement takes its values verbatim: no view, no Long restoration.
    const replacement: Document = { _id: doc._id, ...BsonValues.clone(update) };
    if (replacement._id === undefined) delete replacement._id;
    return stripUndefined(replacement);
  }

  /**
   * Runs a pipeline; `resolver` supplies other collections of the database for
   * `$lookup` & co. `$match` and `$sort` stages run here (the stand-in's
   * matcher and mongod's BSON sort order, under the collation); the stages
   * between them run in mingo.
   */
  static aggregate(
    docs: readonly Document[],
    pipeline: Document[],
    extra: { resolver: (name: string) => Document[]; collation?: Collation | undefined; variables?: Document | undefined },
  ): Document[] {
    PipelineGuard.check(docs, pipeline, extra.collation);
    let current: Document[] = docs.map((d) => BsonValues.toQueryView(d));
    // While no mingo stage has run, `current` holds views linked to the stored documents, whose exact numbers the matcher reads.
    let linked = true;
    let inexact: boolean | undefined;
    const refuseInexact = (stage: string, paths: readonly string[]): void => {
      if (linked || paths.length === 0) return;
      inexact ??= docs.some((doc) => holdsInexactNumber(doc));
      if (inexact && docs.some((doc) => paths.some((path) => BsonValues.valuesAtPath(doc, path).some(holdsInexactNumber)))) {
        throw new CommandError(
          'CommandNotSupported',
          `${stage} after stages that reshape documents, over int64 values beyond 2^53 or Decimal128 values (${paths.join(', ')}), is not supported by the MongoDB stand-in`,
        );
      }
    };
    let segment: Document[] = [];
    const flush = (): void => {
      if (segment.length === 0) return;
      linked = false;
      const stages = segment;
      segment = [];
      const aggregator = translate(
        () =>
          new Aggregator(
            stages.map((s) => BsonValues.toQueryView(s)),
            {
              ...MingoAdapter.options({
                collation: extra.collation,
                variables: extra.variables,
                resolver: (name) => extra.resolver(name).map((d) => BsonValues.toQueryView(d)),
              }),
              processingMode: ProcessingMode.CLONE_INPUT,
            },
          ),
        'Location40324',
      );
      current = translate(() => aggregator.run<Document>(current), 'BadValue');
    };
    for (const stage of pipeline) {
      const keys = Object.keys(stage);
      if (keys.length === 1 && keys[0] === '$match' && BsonValues.isPlainObject(stage.$match)) {
        flush();
        refuseInexact('$match', filterPaths(stage.$match));
        const matches = MingoAdapter.matcher(stage.$match, { collation: extra.collation, variables: extra.variables });
        current = current.filter((doc) => matches(doc));
      } else if (keys.length === 1 && keys[0] === '$sort' && BsonValues.isPlainObject(stage.$sort)) {
        flush();
        const sort = normaliseSort(stage.$sort);
        if (!sort.spec) throw new CommandError('Location15976', '$sort stage must have at least one sort key');
        refuseInexact('$sort', Object.keys(sort.spec));
        current = BsonOrder.sort(current, sort.spec, extra.collation);
      } else {
        segment.push(stage);
      }
    }
    flush();
    // Without a mingo stage the documents are still the cached views of stored ones: hand out copies.
    return current.map((d) => idFirst(stripUndefined(BsonValues.clone(d))));
  }
}

/** The field paths a filter tests (top level and under `$and`/`$or`/`$nor`), with `$expr`'s field references. */
function filterPaths(filter: Document): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$expr') out.push(...expressionPaths(value).filter((p) => p !== ''));
    else if ((key === '$and' || key === '$or' || key === '$nor') && Array.isArray(value)) {
      for (const f of value) if (BsonValues.isPlainObject(f)) out.push(...filterPaths(f));
    } else if (!key.startsWith('$')) out.push(key);
  }
  return out;
}

const POSITIONAL_MARKER = '\u0000positional-target';

/** Dotted paths of every value equal to the positional marker. */
function markedPaths(value: unknown, prefix: string): string[] {
  if (value === POSITIONAL_MARKER) return [prefix];
  const entries: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : BsonValues.isPlainObject(value)
      ? Object.entries(value)
      : [];
  return entries.flatMap(([key, v]) => markedPaths(v, prefix ? `${prefix}.${key}` : key));
}

/** Real operators mingo lacks (text and geo search need server-side indexes). */
const UNSUPPORTED_QUERY_OPERATORS = new Set(['$text', '$near', '$nearSphere', '$geoWithin', '$geoIntersects']);

/** Operators whose arguments mingo compares get number views; the rest keep their BSON types. */
const COMPARING_OPERATORS = new Set(['$min', '$max', '$pull', '$pullAll']);

function modifierView(modifier: Document): Document {
  const out: Document = {};
  for (const [op, spec] of Object.entries(modifier)) {
    const sorts = op === '$push' && BsonValues.isPlainObject(spec) && Object.values(spec).some((v) => BsonValues.isPlainObject(v) && '$sort' in v);
    out[op] = COMPARING_OPERATORS.has(op) || sorts ? BsonValues.toQueryView(spec) : spec;
  }
  return out;
}

function isOperatorUpdate(update: Document): boolean {
  const keys = Object.keys(update);
  return keys.length > 0 && keys.some((k) => k.startsWith('$'));
}

function normaliseSort(sort: Document | undefined): { spec: Record<string, 1 | -1> | undefined; reverse: boolean } {
  if (!sort) return { spec: undefined, reverse: false };
  const spec: Record<string, 1 | -1> = {};
  let reverse = false;
  for (const [key, dir] of Object.entries(sort)) {
    if (key === '$natural') {
      reverse = Number(dir) < 0;
      continue;
    }
    if (dir !== null && typeof dir === 'object') {
      throw new CommandError('BadValue', `$meta sort by '${JSON.stringify(dir)}' is not supported by the MongoDB stand-in`);
    }
    const n = Number(dir);
    if (n !== 1 && n !== -1) throw new CommandError('BadValue', `Illegal key in $sort specification: ${key}: ${String(dir)}`);
    spec[key] = n;
  }
  return { spec: Object.keys(spec).length > 0 ? spec : undefined, reverse };
}

/** Orders `projected` by `original`'s field order (recursively); extra (computed) fields go last. */
function reorderLike(original: Document, projected: Document): Document {
  const out: Document = {};
  for (const key of Object.keys(original)) {
    if (!(key in projected) || projected[key] === undefined) continue;
    const o: unknown = original[key];
    const p: unknown = projected[key];
    out[key] = BsonValues.isPlainObject(o) && BsonValues.isPlainObject(p) ? reorderLike(o, p) : p;
  }
  for (const [key, value] of Object.entries(projected)) {
    if (!(key in out) && value !== undefined) out[key] = value;
  }
  return out;
}

function idFirst(doc: Document): Document {
  if (!('_id' in doc) || Object.keys(doc)[0] === '_id') return doc;
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}

function stripUndefined(doc: Document): Document {
  for (const [key, value] of Object.entries(doc)) {
    if (value === undefined) delete doc[key];
    else if (BsonValues.isPlainObject(value)) stripUndefined(value);
  }
  return doc;
}

function translate<T>(fn: () => T, fallback: 'BadValue' | 'FailedToParse' | 'Location40324'): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof CommandError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (/Unknown update operator: '(\$\w+)'/.test(message)) {
      const op = /'(\$\w+)'/.exec(message)?.[1] ?? '';
      throw new CommandError('FailedToParse', `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
    }
    // mongod's update/update_array_node / positional: no array element of the query to point at.
    if (/include the array field for '\.\$'/.test(message))
      throw new CommandError('BadValue', 'The positional operator did not find the match needed from the query.');
    const immutable = /^(Performing an update on the path '.*' would modify the immutable field '_id')\.?$/.exec(message);
    if (immutable) throw new CommandError('ImmutableField', immutable[1]!);
    const unknownQueryOp = /unknown (?:query|top level) operator:? (\$\w+)/i.exec(message);
    if (unknownQueryOp) {
      const op = unknownQueryOp[1]!;
      if (UNSUPPORTED_QUERY_OPERATORS.has(op)) throw new CommandError('NotImplemented', `${op} is not supported by the MongoDB stand-in`);
      throw new CommandError('BadValue', `${/top level/i.test(message) ? 'unknown top level operator' : 'unknown operator'}: ${op}`);
    }
    const unknownStage = /unregistered pipeline operator (\$\w+)/i.exec(message);
    if (unknownStage?.[1] === '$changeStream') {
      throw new CommandError('Location40573', 'The $changeStream stage is only supported on replica sets');
    }
    if (unknownStage) throw new CommandError('Location40324', `Unrecognized pipeline stage name: '${unknownStage[1]}'`);
    throw new CommandError(fallback === 'Location40324' ? 'BadValue' : fallback, message);
  }
}
