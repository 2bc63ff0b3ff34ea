import { Decimal128, Double, Long, type Document } from 'bson';
import { BsonOrder } from './bson-order.js';
import { BsonValues, MISSING } from './bson-values.js';
import { ChangeStreams } from './change-streams.js';
import { Collation } from './collation.js';
import { collectionName, type CommandHandler } from './command-context.js';
import { CommandError } from './command-error.js';
import { MingoAdapter } from './mingo-adapter.js';
import { TypedAccumulators } from './typed-accumulators.js';

/** find, getMore, killCursors, count, distinct and aggregate. */
export const readCommands: Record<string, CommandHandler> = {
  find(context) {
    const name = collectionName(context);
    const cmd = context.command;
    const namespace = `${context.database}.${name}`;
    let limit = optionalNumber(cmd.limit, 'limit');
    let singleBatch = cmd.singleBatch === true;
    if (limit !== undefined && limit < 0) {
      // Legacy negative limit: one batch of |limit| documents.
      limit = -limit;
      singleBatch = true;
    }
    const skip = optionalNumber(cmd.skip, 'skip');
    if (skip !== undefined && skip < 0) throw new CommandError('BadValue', 'skip value must be non-negative');
    const store = context.catalog.get(context.database, name);
    store?.checkHint(cmd.hint);
    const filter = filterOf(cmd.filter);
    const collation = store ? Collation.of(cmd.collation, store.collation) : undefined;
    const docs = store
      ? MingoAdapter.select(store.candidates(filter, { simpleCollation: collation === undefined }), filter, {
          sort: cmd.sort as Document | undefined,
          skip,
          limit,
          collation,
          variables: cmd.let as Document | undefined,
        })
      : [];
    const projection = cmd.projection as Document | undefined;
    // Planned here (an invalid projection fails the find now, not mid-cursor) and applied eagerly: a positional
    // projection that finds no element fails the find itself.
    const project = projection ? MingoAdapter.projector(projection, filter) : undefined;
    const projected = project ? docs.map(project) : docs;
    const batch = context.cursors.open(namespace, projected, {
      batchSize: optionalNumber(cmd.batchSize, 'batchSize'),
      singleBatch,
    });
    return { cursor: { firstBatch: batch.batch, id: batch.id, ns: namespace }, ok: 1 };
  },

  getMore(context) {
    const id: unknown = context.command.getMore;
    if (!(id instanceof Long)) throw new CommandError('TypeMismatch', "BSON field 'getMore.getMore' is the wrong type, expected type 'long'");
    const collection: unknown = context.command.collection;
    if (typeof collection !== 'string') throw new CommandError('FailedToParse', "BSON field 'getMore.collection' is missing but a required field");
    const namespace = `${context.database}.${collection}`;
    const batchSize = optionalNumber(context.command.batchSize, 'batchSize');
    if (context.replicaSet?.streams.has(id))
      return context.replicaSet.streams.getMore(id, namespace, batchSize, context.command.maxTimeMS, context.attempt > 0);
    const batch = context.cursors.getMore(id, namespace, batchSize);
    return { cursor: { nextBatch: batch.batch, id: batch.id, ns: namespace }, ok: 1 };
  },

  killCursors(context) {
    const ids: unknown = context.command.cursors;
    if (!Array.isArray(ids)) throw new CommandError('FailedToParse', "BSON field 'killCursors.cursors' is missing but a required field");
    const longs = ids.filter((id): id is Long => id instanceof Long);
    const streams = context.replicaSet?.streams.kill(longs) ?? [];
    const { killed, notFound } = context.cursors.kill(longs.filter((id) => !streams.includes(id)));
    return { cursorsKilled: [...streams, ...killed], cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
  },

  count(context) {
    const name = collectionName(context);
    const store = context.catalog.get(context.database, name);
    if (!store) return { n: 0, ok: 1 };
    const query = filterOf(context.command.query);
    store.checkHint(context.command.hint);
    const collation = Collation.of(context.command.collation, store.collation);
    const skip = optionalNumber(context.command.skip, 'skip') ?? 0;
    const limit = Math.abs(optionalNumber(context.command.limit, 'limit') ?? 0);
    let n = Object.keys(query).length === 0 ? store.count : MingoAdapter.select(store.documents(), query, { collation }).length;
    n = Math.max(0, n - skip);
    if (limit > 0) n = Math.min(n, limit);
    return { n, ok: 1 };
  },

  distinct(context) {
    const name = collectionName(context);
    const key: unknown = context.command.key;
    if (typeof key !== 'string') throw new CommandError('FailedToParse', "BSON field 'distinct.key' is missing but a required field");
    const store = context.catalog.get(context.database, name);
    if (!store) return { values: [], ok: 1 };
    const collation = Collation.of(context.command.collation, store.collation);
    const docs = MingoAdapter.select(store.documents(), filterOf(context.command.query), { collation });
    const seen = new Map<string, unknown>();
    for (const doc of docs) {
      for (const value of BsonValues.valuesAtPath(doc, key)) {
        if (value === MISSING || value === undefined) continue;
        const canonical = BsonValues.canonicalKey(collation?.foldsForMatching ? collation.foldDeep(value) : value);
        if (!seen.has(canonical)) seen.set(canonical, value);
      }
    }
    const values = [...seen.values()].sort((a, b) => BsonOrder.compare(a, b, collation));
    return { values, ok: 1 };
  },

  aggregate(context) {
    const cmd = context.command;
    const target: unknown = cmd.aggregate;
    const pipeline: unknown = cmd.pipeline;
    if (!Array.isArray(pipeline)) throw new CommandError('TypeMismatch', "BSON field 'aggregate.pipeline' is the wrong type, expected type 'array'");
    if (cmd.explain === true) throw new CommandError('NotImplemented', 'explain is not supported by the MongoDB stand-in');
    const cursorOption: unknown = cmd.cursor;
    if (!BsonValues.isPlainObject(cursorOption)) {
      throw new CommandError('FailedToParse', "The 'cursor' option is required, except for aggregate with the explain argument");
    }
    const name = typeof target === 'string' ? target : '$cmd.aggregate';
    if (typeof target !== 'string' && target !== 1) throw new CommandError('InvalidNamespace', `collection name has invalid type ${typeof target}`);
    if (context.replicaSet && ChangeStreams.opens(pipeline as Document[])) {
      return context.replicaSet.streams.open(context.database, target, pipeline as Document[], optionalNumber(cursorOption.batchSize, 'cursor.batchSize'));
    }
    const store = typeof target === 'string' ? context.catalog.get(context.database, target) : undefined;
    store?.checkHint(cmd.hint);
    const collation = Collation.of(cmd.collation, store?.collation);
    let stages = pipeline as Document[];
    let docs = store ? store.documents() : [];
    const first = stages[0];
    if (first && BsonValues.isPlainObject(first.$match) && Object.keys(first).length === 1) {
      docs = MingoAdapter.select(docs, first.$match, { collation, variables: cmd.let as Document | undefined });
      stages = stages.slice(1);
    }
    const options = {
      resolver: (other: string) => context.catalog.get(context.database, other)?.documents() ?? [],
      collation,
      variables: cmd.let as Document | undefined,
    };
    // A first $group (behind stages that only select or order the stored documents) computes its field accumulators
    // with BSON number types (see TypedAccumulators).
    const groupAt = stages.findIndex((stage) => '$group' in stage);
    const selectsOnly = stages.slice(0, Math.max(groupAt, 0)).every((stage) => DOCUMENT_PRESERVING.has(Object.keys(stage)[0] ?? ''));
    const typed = groupAt >= 0 && selectsOnly && !collation?.foldsForMatching ? TypedAccumulators.rewrite(stages[groupAt]!) : undefined;
    let results: Document[];
    if (typed) {
      results = MingoAdapter.aggregate(docs, [...stages.slice(0, groupAt), typed.stage], options);
      TypedAccumulators.finish(results, typed.fields, docs);
      if (stages.length > groupAt + 1) {
        // Later stages see number views; groups that keep their _id get their BSON number types back.
        const groups = new Map(results.map((g) => [BsonValues.canonicalKey(BsonValues.toQueryView(g._id)), g]));
        results = MingoAdapter.aggregate(results, stages.slice(groupAt + 1), options);
        const exact = [...groups.values()].some((g) => Object.values(g).some((v) => v instanceof Long || v instanceof Decimal128));
        for (const doc of results) {
          const group = '_id' in doc ? groups.get(BsonValues.canonicalKey(doc._id)) : undefined;
          if (group) BsonValues.restoreBsonTypes(group, doc);
          else if (exact)
            throw new CommandError(
              'CommandNotSupported',
              'stages after a $group that drop or change its _id, over int64 or Decimal128 totals, are not supported by the MongoDB stand-in',
            );
        }
      }
    } else {
      results = stages.length === 0 ? docs : MingoAdapter.aggregate(docs, stages, options);
    }
    // mingo saw int64 values as numbers; give documents that still carry their
    // stored _id their int64 fields back (covers $match/$sort/$project/$addFields pipelines).
    if (store && stages.length > 0) {
      for (const doc of results) {
        const stored = '_id' in doc ? store.findById(doc._id) : undefined;
        if (stored) BsonValues.restoreBsonTypes(stored, doc);
      }
    }
    const namespace = `${context.database}.${name}`;
    const batch = context.cursors.open(namespace, results, { batchSize: optionalNumber(cursorOption.batchSize, 'cursor.batchSize') });
    return { cursor: { firstBatch: batch.batch, id: batch.id, ns: namespace }, ok: 1 };
  },
};

/** Stages that pass stored documents through unchanged (they only select or order them). */
const DOCUMENT_PRESERVING = new Set(['$match', '$sort', '$limit', '$skip']);

function filterOf(value: unknown): Document {
  if (value === undefined || value === null) return {};
  if (!BsonValues.isPlainObject(value)) throw new CommandError('TypeMismatch', "BSON field 'filter' is the wrong type, expected type 'object'");
  return value;
}

function optionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return value;
  if (value instanceof Long) return value.toNumber();
  if (value instanceof Double) return value.value;
  throw new CommandError('TypeMismatch', `BSON field '${field}' is the wrong type '${typeof value}', expected types '[long, int, decimal, double]'`);
}
