import { Long, type Document } from 'bson';
import { BsonValues } from './bson-values.js';
import { ChangeLog, type LoggedChange } from './change-log.js';
import { CommandError } from './command-error.js';
import type { DatabaseCatalog } from './database-catalog.js';
import { Deferral } from './deferral.js';
import { MingoAdapter } from './mingo-adapter.js';
import { describeUpdate } from './update-description.js';

/** Stages mongod allows after `$changeStream` (manual: "Modify Change Stream Output"). */
const ALLOWED_STAGES = new Set(['$match', '$project', '$addFields', '$set', '$unset', '$replaceRoot', '$replaceWith', '$redact']);
/** Every stage name mongod 7.0 parses (manual: "Aggregation Stages"), to tell an unknown stage (40324) from a forbidden one. */
const AGGREGATION_STAGES = new Set([
  ...ALLOWED_STAGES,
  '$addFields',
  '$bucket',
  '$bucketAuto',
  '$changeStreamSplitLargeEvent',
  '$collStats',
  '$count',
  '$densify',
  '$documents',
  '$facet',
  '$fill',
  '$geoNear',
  '$graphLookup',
  '$group',
  '$indexStats',
  '$limit',
  '$listSampledQueries',
  '$listSearchIndexes',
  '$listSessions',
  '$lookup',
  '$merge',
  '$out',
  '$planCacheStats',
  '$sample',
  '$search',
  '$searchMeta',
  '$setWindowFields',
  '$skip',
  '$sort',
  '$sortByCount',
  '$unionWith',
  '$unwind',
  '$vectorSearch',
]);
const SPEC_FIELDS = new Set([
  'fullDocument',
  'fullDocumentBeforeChange',
  'resumeAfter',
  'startAfter',
  'startAtOperationTime',
  'allChangesForCluster',
  'showExpandedEvents',
]);
const FULL_DOCUMENT = new Set(['default', 'updateLookup', 'whenAvailable', 'required']);
const BEFORE_CHANGE = new Set(['off', 'whenAvailable', 'required']);
const INTERNAL_DATABASES = new Set(['admin', 'config', 'local']);
/** How long an awaitData getMore waits for a change when the driver sends no maxTimeMS (mongod's default). */
const DEFAULT_AWAIT_MS = 1000;

interface Scope {
  readonly db?: string | undefined;
  readonly coll?: string | undefined;
}

interface StreamCursor {
  readonly namespace: string;
  readonly scope: Scope;
  readonly fullDocument: string;
  readonly beforeChange: string;
  readonly stages: Document[];
  /** Sequence number of the last change looked at. */
  seq: number;
  invalidated: boolean;
  /** The token of the last event returned, while no later change has been looked at. */
  lastToken: Document | undefined;
}

/**
 * Open change streams of the replica-set mode. A stream is a tailable cursor
 * over the ChangeLog: each getMore turns the changes after its position into
 * events (filtered by scope and the user's stages), waiting up to the
 * getMore's maxTimeMS (1 s by default) when there are none.
 */
export class ChangeStreams {
  readonly #log: ChangeLog;
  readonly #catalog: DatabaseCatalog;
  readonly #cursors = new Map<string, StreamCursor>();

  constructor(log: ChangeLog, catalog: DatabaseCatalog) {
    this.#log = log;
    this.#catalog = catalog;
  }

  /** True when the aggregate's pipeline opens a change stream. */
  static opens(pipeline: readonly Document[]): boolean {
    const first = pipeline[0];
    return first !== undefined && '$changeStream' in first;
  }

  /** The aggregate command's reply for a `$changeStream` pipeline. */
  open(database: string, target: unknown, pipeline: readonly Document[], batchSize: number | undefined): Document {
    const spec: unknown = pipeline[0]!.$changeStream;
    if (!BsonValues.isPlainObject(spec)) throw new CommandError('TypeMismatch', 'the $changeStream stage must be specified as an object');
    for (const key of Object.keys(spec)) {
      if (!SPEC_FIELDS.has(key)) throw new CommandError('Location40415', `BSON field '$changeStream.${key}' is an unknown field.`);
    }
    if (spec.showExpandedEvents === true)
      throw new CommandError('CommandNotSupported', 'showExpandedEvents (DDL change events) is not supported by the MongoDB stand-in');
    const fullDocument = typeof spec.fullDocument === 'string' ? spec.fullDocument : 'default';
    const beforeChange = typeof spec.fullDocumentBeforeChange === 'string' ? spec.fullDocumentBeforeChange : 'off';
    if (!FULL_DOCUMENT.has(fullDocument)) throw new CommandError('BadValue', `'${fullDocument}' is not a valid value for $changeStream.fullDocument`);
    if (!BEFORE_CHANGE.has(beforeChange))
      throw new CommandError('BadValue', `'${beforeChange}' is not a valid value for $changeStream.fullDocumentBeforeChange`);
    const stages = pipeline.slice(1);
    for (const stage of stages) {
      const name = Object.keys(stage)[0] ?? '';
      if (name === '$changeStream') throw new CommandError('Location40602', '$changeStream is only valid as the first stage in a pipeline');
      // mongod parses the pipeline before checking what a change stream allows (change-streams-errors.yml: 40324).
      if (!AGGREGATION_STAGES.has(name)) throw new CommandError('Location40324', `Unrecognized pipeline stage name: '${name}'`);
      if (name === '$changeStreamSplitLargeEvent') throw new CommandError('CommandNotSupported', `${name} is not supported by the MongoDB stand-in`);
      if (!ALLOWED_STAGES.has(name)) throw new CommandError('IllegalOperation', `${name} is not permitted in a $changeStream pipeline`);
    }
    const scope = this.#scope(database, target, spec.allChangesForCluster === true);
    const starts = ['resumeAfter', 'startAfter', 'startAtOperationTime'].filter((k) => spec[k] !== undefined);
    if (starts.length > 1) throw new CommandError('Location40674', 'Only one type of resume option is allowed, but multiple were found.');
    let seq = this.#log.head;
    if (spec.resumeAfter !== undefined) seq = this.#log.resumePoint({ token: spec.resumeAfter, allowInvalidate: false });
    else if (spec.startAfter !== undefined) seq = this.#log.resumePoint({ token: spec.startAfter, allowInvalidate: true });
    else if (spec.startAtOperationTime !== undefined) seq = this.#log.resumePoint({ time: spec.startAtOperationTime });
    const namespace = scope.coll === undefined ? `${database}.$cmd.aggregate` : `${database}.${scope.coll}`;
    const cursor: StreamCursor = { namespace, scope, fullDocument, beforeChange, stages, seq, invalidated: false, lastToken: undefined };
    this.#log.after(seq); // 286 now, not at the first getMore, when the resume point is gone
    const batch = this.#next(cursor, batchSize ?? Number.POSITIVE_INFINITY);
    const id = this.#register(cursor);
    return {
      cursor: { firstBatch: batch, postBatchResumeToken: this.#postBatchResumeToken(cursor), id, ns: namespace },
      operationTime: this.#log.now(),
      ok: 1,
    };
  }

  has(id: Long): boolean {
    return this.#cursors.has(id.toString());
  }

  /**
   * The getMore reply for a stream cursor.
   * @throws Deferral when there is nothing yet and this is the first attempt (the command is re-run after the wait).
   */
  getMore(id: Long, namespace: string, batchSize: number | undefined, maxTimeMS: unknown, retried: boolean): Document {
    const key = id.toString();
    const cursor = this.#cursors.get(key)!;
    if (cursor.namespace !== namespace) {
      throw new CommandError('Unauthorized', `Requested getMore on namespace '${namespace}', but cursor belongs to a different namespace ${cursor.namespace}`);
    }
    const batch = this.#next(cursor, batchSize && batchSize > 0 ? batchSize : Number.POSITIVE_INFINITY);
    if (batch.length === 0 && !retried && !cursor.invalidated) {
      const wait = typeof maxTimeMS === 'number' && maxTimeMS > 0 ? maxTimeMS : DEFAULT_AWAIT_MS;
      throw new Deferral(this.#log.waitForChange(wait));
    }
    const closed = cursor.invalidated;
    if (closed) this.#cursors.delete(key);
    return {
      cursor: { nextBatch: batch, postBatchResumeToken: this.#postBatchResumeToken(cursor), id: closed ? Long.ZERO : id, ns: namespace },
      operationTime: this.#log.now(),
      ok: 1,
    };
  }

  /** Removes the listed stream cursors; returns the ids that were streams. */
  kill(ids: readonly Long[]): Long[] {
    return ids.filter((id) => this.#cursors.delete(id.toString()));
  }

  clear(): void {
    this.#cursors.clear();
  }

  #scope(database: string, target: unknown, cluster: boolean): Scope {
    if (typeof target === 'string') return { db: database, coll: target };
    if (cluster) {
      if (database !== 'admin')
        throw new CommandError('InvalidOptions', "$changeStream may only be opened on the 'admin' database when allChangesForCluster is true");
      return {};
    }
    if (INTERNAL_DATABASES.has(database)) {
      throw new CommandError('InvalidNamespace', `$changeStream may not be opened on the internal ${database} database`);
    }
    return { db: database };
  }

  #register(cursor: StreamCursor): Long {
    let id: Long;
    do id = Long.fromBits(Math.floor(Math.random() * 0xffffffff) | 0, Math.floor(Math.random() * 0x7fffffff) + 1);
    while (this.#cursors.has(id.toString()));
    this.#cursors.set(id.toString(), cursor);
    return id;
  }

  /** mongod's `postBatchResumeToken`: the last event's token, or a high-water mark past every change looked at. */
  #postBatchResumeToken(cursor: StreamCursor): Document {
    return cursor.lastToken ?? this.#log.highWaterMark(cursor.seq);
  }

  #next(cursor: StreamCursor, limit: number): Document[] {
    const out: Document[] = [];
    if (cursor.invalidated) return out;
    for (const change of this.#log.after(cursor.seq)) {
      if (out.length >= limit) break;
      cursor.seq = change.seq;
      cursor.lastToken = undefined;
      if (!this.#inScope(cursor.scope, change)) continue;
      const event = this.#event(cursor, change);
      const [shaped] = cursor.stages.length === 0 ? [event] : MingoAdapter.aggregate([event], cursor.stages, { resolver: () => [] });
      if (shaped && BsonValues.canonicalKey(shaped._id) !== BsonValues.canonicalKey(event._id)) {
        throw new CommandError(
          'ChangeStreamFatalError',
          'Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.',
          { errorLabels: ['NonResumableChangeStreamError'] },
        );
      }
      if (shaped) {
        out.push(shaped);
        cursor.lastToken = event._id as Document;
      }
      if (this.#invalidates(cursor.scope, change)) {
        const token = ChangeLog.token(change, true);
        out.push({ _id: token, operationType: 'invalidate', clusterTime: change.clusterTime, wallTime: change.wallTime });
        cursor.lastToken = token;
        cursor.invalidated = true;
        break;
      }
    }
    return out;
  }

  #inScope(scope: Scope, change: LoggedChange): boolean {
    // System collections and the internal databases never appear in change streams.
    if (change.coll?.startsWith('system.')) return false;
    if (scope.db === undefined) return !INTERNAL_DATABASES.has(change.db);
    if (change.db !== scope.db) return false;
    return scope.coll === undefined || change.kind === 'dropDatabase' || change.coll === scope.coll;
  }

  #invalidates(scope: Scope, change: LoggedChange): boolean {
    if (scope.coll !== undefined) return change.kind === 'drop' || change.kind === 'rename' || change.kind === 'dropDatabase';
    return scope.db !== undefined && change.kind === 'dropDatabase';
  }

  #event(cursor: StreamCursor, change: LoggedChange): Document {
    const event: Document = { _id: ChangeLog.token(change), operationType: change.kind, clusterTime: change.clusterTime, wallTime: change.wallTime };
    if (change.txn) Object.assign(event, change.txn);
    const ns = { db: change.db, ...(change.coll === undefined ? {} : { coll: change.coll }) };
    if (change.kind === 'insert' || change.kind === 'replace') event.fullDocument = change.next;
    if (change.kind === 'update') {
      const full = this.#postImage(cursor, change);
      if (full !== undefined) event.fullDocument = full;
    }
    event.ns = ns;
    if (change.to) event.to = change.to;
    if (change.id !== undefined) event.documentKey = { _id: change.id };
    if (change.kind === 'update') event.updateDescription = describeUpdate(change.previous ?? {}, change.next ?? {}, change.update);
    if (cursor.beforeChange !== 'off' && (change.kind === 'update' || change.kind === 'replace' || change.kind === 'delete')) {
      if (change.imagesRecorded) event.fullDocumentBeforeChange = change.previous;
      else if (cursor.beforeChange === 'required') throw noImage(change, 'pre');
      else event.fullDocumentBeforeChange = null;
    }
    return event;
  }

  /** `fullDocument` of an update event, per the stream's `fullDocument` option (undefined = omitted). */
  #postImage(cursor: StreamCursor, change: LoggedChange): Document | null | undefined {
    switch (cursor.fullDocument) {
      case 'updateLookup':
        // The current majority-committed version, looked up when the event is returned (null once deleted).
        return this.#catalog.get(change.db, change.coll ?? '')?.findById(change.id) ?? null;
      case 'whenAvailable':
        return change.imagesRecorded ? change.next : null;
      case 'required':
        if (!change.imagesRecorded) throw noImage(change, 'post');
        return change.next;
      default:
        return undefined;
    }
  }
}

function noImage(change: LoggedChange, which: 'pre' | 'post'): CommandError {
  return new CommandError(
    'NoMatchingDocument',
    `Change stream was configured to require a ${which}-image for all update, delete and replace events, but the ${which}-image was not found for event: ${change.db}.${change.coll ?? ''}`,
  );
}
