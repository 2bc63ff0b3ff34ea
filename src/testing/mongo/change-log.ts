import { Timestamp, type Document, type UUID } from 'bson';
import { BsonValues } from './bson-values.js';
import type { CollectionStore, StoreWrite } from './collection-store.js';
import { CommandError } from './command-error.js';
import { ResumeToken } from './resume-token.js';

/** Change-event kinds the stand-in records (mongod's `operationType`s without showExpandedEvents). */
export type ChangeKind = 'insert' | 'update' | 'replace' | 'delete' | 'drop' | 'rename' | 'dropDatabase';

/** One entry of the stand-in's oplog: what a change stream turns into an event. */
export interface LoggedChange {
  readonly seq: number;
  readonly kind: ChangeKind;
  /** The oplog entry's time: one per write, shared by every write of a transaction's commit. */
  readonly clusterTime: Timestamp;
  /** The write's position inside its transaction's commit (0 outside transactions). */
  readonly txnOpIndex: number;
  /** The collection's UUID (absent for dropDatabase). */
  readonly uuid?: UUID | undefined;
  readonly wallTime: Date;
  readonly db: string;
  /** Absent for dropDatabase. */
  readonly coll?: string | undefined;
  readonly id?: unknown;
  readonly previous?: Document | undefined;
  readonly next?: Document | undefined;
  /** The update document or pipeline of an `update` (shapes its updateDescription). */
  readonly update?: Document | Document[] | undefined;
  /** The collection had `changeStreamPreAndPostImages: {enabled: true}` when the change happened. */
  readonly imagesRecorded?: boolean;
  /** For rename: the target namespace. */
  readonly to?: { db: string; coll: string } | undefined;
  /** Set for writes committed by a multi-document transaction. */
  readonly txn?: { lsid: Document; txnNumber: unknown } | undefined;
}

/** How many changes are kept (a capped oplog); resuming from an older token fails with 286. */
const CAPACITY = 10_000;

type NewChange = Omit<LoggedChange, 'seq' | 'clusterTime' | 'wallTime' | 'txnOpIndex'>;

/**
 * The replica set's oplog as change streams see it: an ordered, capped list of
 * changes with resume tokens and a wake-up for awaiting getMores.
 */
export class ChangeLog {
  readonly #entries: LoggedChange[] = [];
  #seq = 0;
  /** The increment of the last cluster time handed out (one per oplog entry; a commit is one entry). */
  #tick = 0;
  readonly #startedAt = Math.floor(Date.now() / 1000);
  #waiters = new Set<() => void>();

  /** Sequence number of the newest change (0 before the first). */
  get head(): number {
    return this.#seq;
  }

  /** The cluster time of the newest change (the replies' `operationTime`). */
  now(): Timestamp {
    return this.#entries.at(-1)?.clusterTime ?? new Timestamp({ t: this.#startedAt, i: 0 });
  }

  record(change: NewChange): LoggedChange {
    return this.#append([change], undefined)[0]!;
  }

  /** Records a transaction's writes as its commit does: one oplog entry, so one cluster time, `txnOpIndex` 0, 1, 2… */
  recordTransaction(writes: ReadonlyArray<{ store: CollectionStore; write: StoreWrite }>, txn: { lsid: Document; txnNumber: unknown }): void {
    if (writes.length > 0) this.#append(writes.map(({ store, write }) => writeChange(store, write, txn)));
  }

  #append(changes: readonly NewChange[], time: Timestamp = this.#nextTime()): LoggedChange[] {
    const wallTime = new Date();
    const out = changes.map((change, txnOpIndex) => ({ ...change, seq: ++this.#seq, clusterTime: time, txnOpIndex, wallTime }));
    this.#entries.push(...out);
    if (this.#entries.length > CAPACITY) this.#entries.splice(0, this.#entries.length - CAPACITY);
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
    return out;
  }

  #nextTime(): Timestamp {
    const last = this.now();
    return new Timestamp({ t: Math.max(last.t, Math.floor(Date.now() / 1000)), i: ++this.#tick });
  }

  /** Records a document write (`txn` set when a transaction's commit applied it). */
  recordWrite(store: CollectionStore, write: StoreWrite): void {
    this.record(writeChange(store, write, undefined));
  }

  /**
   * Records what a successful drop, dropDatabase or renameCollection changed;
   * `dropping` names the collections it removed or renamed, with their UUIDs (read before the command ran).
   */
  recordCommand(name: string, database: string, command: Document, reply: Document, dropping: ReadonlyArray<{ name: string; uuid: UUID }>): void {
    const uuidOf = (coll: string): UUID | undefined => dropping.find((d) => d.name === coll)?.uuid;
    if (name === 'drop' && typeof reply.ns === 'string')
      this.record({ kind: 'drop', db: database, coll: String(command.drop), uuid: uuidOf(String(command.drop)) });
    if (name === 'dropDatabase') {
      for (const { name: coll, uuid } of dropping) this.record({ kind: 'drop', db: database, coll, uuid });
      this.record({ kind: 'dropDatabase', db: database });
    }
    if (name === 'renameCollection') {
      const [fromDb = '', ...fromRest] = String(command.renameCollection).split('.');
      const [toDb = '', ...toRest] = String(command.to).split('.');
      const coll = fromRest.join('.');
      this.record({ kind: 'rename', db: fromDb, coll, uuid: uuidOf(coll), to: { db: toDb, coll: toRest.join('.') } });
    }
  }

  /** Changes after `seq`, oldest first. @throws CommandError 286 when `seq` fell off the capped log. */
  after(seq: number): LoggedChange[] {
    const first = this.#entries[0];
    if (first && seq < first.seq - 1)
      throw new CommandError('ChangeStreamHistoryLost', 'Resume of change stream was not possible, as the resume point may no longer be in the oplog.');
    const start = first ? Math.max(0, seq - first.seq + 1) : 0;
    return this.#entries.slice(start);
  }

  /** Resolves at the next change or after `ms`, whichever comes first. */
  waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      const waiters = this.#waiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  /** An event's resume token (mongod's v2 format; `fromInvalidate` for the invalidate event a change causes). */
  static token(change: LoggedChange, fromInvalidate = false): Document {
    const eventIdentifier: Document = { operationType: change.kind };
    if (change.id !== undefined) eventIdentifier.documentKey = { _id: change.id };
    if (change.kind === 'rename' && change.to) eventIdentifier.operationDescription = { to: change.to };
    return ResumeToken.encode({
      clusterTime: change.clusterTime,
      tokenType: 'event',
      txnOpIndex: change.txnOpIndex,
      fromInvalidate,
      uuid: change.uuid,
      eventIdentifier,
    });
  }

  /** A high-water-mark token for the point after change `seq` (a `postBatchResumeToken` past the last event). */
  highWaterMark(seq: number): Document {
    const entry = this.#entries.find((e) => e.seq === seq);
    const last = entry?.clusterTime ?? this.now();
    return ResumeToken.encode({ clusterTime: new Timestamp({ t: last.t, i: last.i + 1 }), tokenType: 'highWaterMark', txnOpIndex: 0, fromInvalidate: false });
  }

  /**
   * The sequence number a stream resumes after, for `resumeAfter`/`startAfter` (`token`) or `startAtOperationTime`.
   * @throws CommandError for a malformed token; 260 for `resumeAfter` an invalidate; 286 when the point fell off the log; 280 when an event token names no event.
   */
  resumePoint(start: { token: unknown; allowInvalidate: boolean } | { time: unknown }): number {
    if ('time' in start) {
      if (!(start.time instanceof Timestamp))
        throw new CommandError('TypeMismatch', "BSON field '$changeStream.startAtOperationTime' is the wrong type, expected type 'timestamp'");
      return this.#before(start.time);
    }
    const data = ResumeToken.decode(start.token);
    if (data.tokenType === 'highWaterMark') return this.#before(data.clusterTime);
    if (data.fromInvalidate && !start.allowInvalidate) {
      throw new CommandError('InvalidResumeToken', "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification.");
    }
    const entry = this.#entries.find((e) => e.clusterTime.equals(data.clusterTime) && e.txnOpIndex === data.txnOpIndex);
    if (entry) return entry.seq;
    const first = this.#entries[0];
    if (!first || data.clusterTime.lessThan(first.clusterTime)) return this.#before(data.clusterTime);
    throw new CommandError('ChangeStreamFatalError', 'cannot resume stream; the resume token was not found.', {
      errorLabels: ['NonResumableChangeStreamError'],
    });
  }

  /** The sequence number just before the first change at or after `time` (286 when older changes were dropped). */
  #before(time: Timestamp): number {
    const first = this.#entries[0];
    if (first && first.seq > 1 && time.lessThan(first.clusterTime))
      throw new CommandError('ChangeStreamHistoryLost', 'Resume of change stream was not possible, as the resume point may no longer be in the oplog.');
    const at = this.#entries.find((e) => !e.clusterTime.lessThan(time));
    return at ? at.seq - 1 : this.#seq;
  }
}

function writeChange(store: CollectionStore, write: StoreWrite, txn: { lsid: Document; txnNumber: unknown } | undefined): NewChange {
  const images: unknown = store.options.changeStreamPreAndPostImages;
  return {
    kind: write.kind,
    db: store.database,
    coll: store.name,
    uuid: store.uuid,
    id: write.id,
    previous: write.previous,
    next: write.next,
    update: write.update,
    imagesRecorded: BsonValues.isPlainObject(images) && images.enabled === true,
    txn,
  };
}
