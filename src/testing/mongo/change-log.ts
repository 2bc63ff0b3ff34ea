import { Timestamp, type Document } from 'bson';
import { BsonValues } from './bson-values.js';
import type { CollectionStore, StoreWrite } from './collection-store.js';
import { CommandError } from './command-error.js';

/** Change-event kinds the stand-in records (mongod's `operationType`s without showExpandedEvents). */
export type ChangeKind = 'insert' | 'update' | 'replace' | 'delete' | 'drop' | 'rename' | 'dropDatabase';

/** One entry of the stand-in's oplog: what a change stream turns into an event. */
export interface LoggedChange {
  readonly seq: number;
  readonly kind: ChangeKind;
  readonly clusterTime: Timestamp;
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
const TOKEN_PATTERN = /^82([0-9A-F]{16})04$/;

/**
 * The replica set's oplog as change streams see it: an ordered, capped list of
 * changes with resume tokens and a wake-up for awaiting getMores.
 */
export class ChangeLog {
  readonly #entries: LoggedChange[] = [];
  #seq = 0;
  #waiters = new Set<() => void>();

  /** Sequence number of the newest change (0 before the first). */
  get head(): number {
    return this.#seq;
  }

  /** The cluster time of the newest change (the replies' `operationTime`). */
  now(): Timestamp {
    return ChangeLog.timestampOf(this.#seq);
  }

  record(change: Omit<LoggedChange, 'seq' | 'clusterTime' | 'wallTime'>): LoggedChange {
    const seq = ++this.#seq;
    const entry: LoggedChange = { ...change, seq, clusterTime: ChangeLog.timestampOf(seq), wallTime: new Date() };
    this.#entries.push(entry);
    if (this.#entries.length > CAPACITY) this.#entries.splice(0, this.#entries.length - CAPACITY);
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
    return entry;
  }

  /** Records a document write (`txn` set when a transaction's commit applied it). */
  recordWrite(store: CollectionStore, write: StoreWrite, txn: { lsid: Document; txnNumber: unknown } | undefined): void {
    const images: unknown = store.options.changeStreamPreAndPostImages;
    this.record({
      kind: write.kind,
      db: store.database,
      coll: store.name,
      id: write.id,
      previous: write.previous,
      next: write.next,
      update: write.update,
      imagesRecorded: BsonValues.isPlainObject(images) && images.enabled === true,
      txn,
    });
  }

  /** Records what a successful drop, dropDatabase (`dropping`: its collections) or renameCollection changed. */
  recordCommand(name: string, database: string, command: Document, reply: Document, dropping: readonly string[]): void {
    if (name === 'drop' && typeof reply.ns === 'string') this.record({ kind: 'drop', db: database, coll: String(command.drop) });
    if (name === 'dropDatabase') {
      for (const coll of dropping) this.record({ kind: 'drop', db: database, coll });
      this.record({ kind: 'dropDatabase', db: database });
    }
    if (name === 'renameCollection') {
      const [fromDb = '', ...fromRest] = String(command.renameCollection).split('.');
      const [toDb = '', ...toRest] = String(command.to).split('.');
      this.record({ kind: 'rename', db: fromDb, coll: fromRest.join('.'), to: { db: toDb, coll: toRest.join('.') } });
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

  /** A resume token (`{_data}`, hex like mongod's, opaque to drivers) for the point after change `seq`. */
  static token(seq: number): Document {
    return { _data: `82${seq.toString(16).toUpperCase().padStart(16, '0')}04` };
  }

  /** @throws CommandError 2 for a token this server did not issue. */
  static seqOfToken(token: unknown): number {
    const data: unknown = (token as { _data?: unknown } | null)?._data;
    const match = typeof data === 'string' ? TOKEN_PATTERN.exec(data) : null;
    if (!match) throw new CommandError('BadValue', 'Invalid resume token: not issued by this MongoDB stand-in');
    return Number.parseInt(match[1]!, 16);
  }

  /** Cluster time of change `seq`: seconds since start of the epoch and `seq` as the increment. */
  static timestampOf(seq: number): Timestamp {
    return new Timestamp({ t: Math.floor(Date.now() / 1000), i: seq });
  }

  /** The first change at or after a cluster time (its increment is the sequence number). */
  static seqAtOrAfter(time: unknown): number {
    if (!(time instanceof Timestamp))
      throw new CommandError('TypeMismatch', "BSON field '$changeStream.startAtOperationTime' is the wrong type, expected type 'timestamp'");
    return time.getLowBitsUnsigned() - 1;
  }
}
