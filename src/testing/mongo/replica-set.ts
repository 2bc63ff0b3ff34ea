import { Long, ObjectId, type Document } from 'bson';
import { BsonValues } from './bson-values.js';
import { ChangeLog } from './change-log.js';
import { ChangeStreams } from './change-streams.js';
import { CollectionStore, type StoreObserver, type StoreWrite } from './collection-store.js';
import { CommandError } from './command-error.js';
import type { DatabaseCatalog } from './database-catalog.js';
import { Deferral } from './deferral.js';
import {
  applyNet,
  noSuchTransaction,
  notInTransaction,
  OverlayCatalog,
  Transaction,
  unsatisfiableWriteConcern,
  writeConflict,
  type ConflictPolicy,
} from './transaction.js';

/** mongod's transactionLifetimeLimitSeconds default: older transactions are aborted by the server. */
export const TRANSACTION_LIFETIME_MS = 60_000;

/** Commands mongod runs inside a multi-document transaction (manual: "Transactions → Operations"). */
const ALLOWED_IN_TRANSACTION = new Set([
  'find',
  'getMore',
  'killCursors',
  'aggregate',
  'distinct',
  'insert',
  'update',
  'delete',
  'findAndModify',
  'create',
  'createIndexes',
  'bulkWrite',
  'hello',
  'isMaster',
  'ismaster',
  'ping',
]);
/** Commands that change a collection without a per-document write; transactions keep their snapshot of it first. */
const DDL = new Set(['drop', 'renameCollection', 'dropDatabase', 'collMod', 'createIndexes', 'dropIndexes']);
const RETRYABLE_WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'bulkWrite']);

interface Session {
  txnNumber: Long | undefined;
  txn: Transaction | undefined;
  retried: { txnNumber: Long; reply: Document } | undefined;
}

/**
 * The replica-set mode of the MongoDB stand-in: a one-member replica set
 * (primary only) with logical sessions, retryable writes, multi-document
 * transactions and change streams.
 *
 * Transactions use snapshot isolation: a transaction copies a collection
 * when it first uses it, or just before anyone else writes to it, whichever
 * comes first, so it reads the data as of its start and its writes stay
 * invisible until commit. Writing a document that another transaction has
 * written, or that was committed after the snapshot, fails at once with
 * WriteConflict (112, TransientTransactionError); a write outside any
 * transaction to a document a transaction holds waits until that
 * transaction ends, as mongod's does (it is tried on copies first, so it
 * waits before changing anything); the TTL monitor skips such documents.
 *
 * One class (a little over 300 lines) on purpose: the session table, the
 * conflict checks and the store observer share the write clock and the set
 * of active transactions.
 */
export class ReplicaSetMode implements StoreObserver, ConflictPolicy {
  readonly setName: string;
  readonly me: string;
  readonly changes = new ChangeLog();
  readonly streams: ChangeStreams;
  readonly electionId = new ObjectId();
  readonly #catalog: DatabaseCatalog;
  readonly #sessions = new Map<string, Session>();
  readonly #active = new Set<Transaction>();
  /** Incremented by every committed document write. */
  #clock = 0;
  readonly #lastWrite = new Map<string, number>();
  #committing: Transaction | undefined;
  #inCommand = false;
  #writesInCommand = 0;

  constructor(catalog: DatabaseCatalog, setName: string, me: string) {
    this.#catalog = catalog;
    this.setName = setName;
    this.me = me;
    this.streams = new ChangeStreams(this.changes, catalog);
    catalog.observeWith(this);
  }

  /** The replica-set fields of hello (SDAM: an RSPrimary with one member). */
  helloFields(): Document {
    const opTime = { ts: this.changes.now(), t: Long.ONE };
    const now = new Date();
    return {
      hosts: [this.me],
      setName: this.setName,
      setVersion: 1,
      secondary: false,
      primary: this.me,
      me: this.me,
      electionId: this.electionId,
      lastWrite: { opTime, lastWriteDate: now, majorityOpTime: opTime, majorityWriteDate: now },
    };
  }

  /**
   * Runs one command with its session semantics (in a transaction, as a
   * retryable write, or plainly); replies carry `operationTime`, as a
   * replica-set member's do.
   */
  route(name: string, database: string, command: Document, run: (catalog: DatabaseCatalog) => Document): Document {
    const reply = this.#route(name, database, command, run);
    const concernError = reply.ok === 1 ? unsatisfiableWriteConcern(command.writeConcern) : undefined;
    return {
      ...reply,
      ...(concernError ? { writeConcernError: concernError } : {}),
      ...('operationTime' in reply ? {} : { operationTime: this.changes.now() }),
    };
  }

  #route(name: string, database: string, command: Document, run: (catalog: DatabaseCatalog) => Document): Document {
    const lsid: unknown = command.lsid;
    const readConcern: unknown = command.readConcern;
    // Snapshot reads outside a transaction (snapshot sessions, atClusterTime) would need the stand-in to keep old versions.
    if (
      BsonValues.isPlainObject(readConcern) &&
      (readConcern.atClusterTime !== undefined || (readConcern.level === 'snapshot' && command.autocommit !== false))
    ) {
      throw new CommandError(
        'CommandNotSupported',
        'snapshot reads outside a transaction (readConcern level snapshot, atClusterTime) are not supported by the MongoDB stand-in',
      );
    }
    if (command.autocommit === false || name === 'commitTransaction' || name === 'abortTransaction') {
      if (!BsonValues.isPlainObject(lsid)) throw new CommandError('InvalidOptions', 'Transactions require a logical session id (lsid)');
      return this.#transactional(name, database, lsid, command, run);
    }
    if (command.startTransaction !== undefined) throw new CommandError('InvalidOptions', 'startTransaction requires autocommit: false');
    if (name === 'endSessions' || name === 'killSessions') this.#endSessions(command[name]);
    const txnNumber: unknown = command.txnNumber;
    if (txnNumber instanceof Long && BsonValues.isPlainObject(lsid) && RETRYABLE_WRITES.has(name)) {
      const session = this.#session(lsid);
      // A retried write (same session and txnNumber) gets the first attempt's reply, not a second execution.
      if (session.retried?.txnNumber.equals(txnNumber)) return session.retried.reply;
      const reply = this.#plain(name, database, command, run);
      session.retried = { txnNumber, reply };
      return reply;
    }
    return this.#plain(name, database, command, run);
  }

  /** Aborts transactions that outlived transactionLifetimeLimitSeconds. */
  expire(now: number): void {
    for (const txn of this.#activeTransactions()) if (now - txn.startedAt > TRANSACTION_LIFETIME_MS) txn.end('aborted');
  }

  clear(): void {
    for (const txn of this.#active) txn.end('aborted');
    this.#active.clear();
    this.#sessions.clear();
    this.streams.clear();
  }

  // ---- StoreObserver for the shared catalog's collections ----

  beforeWrite(store: CollectionStore, key: string, _id: unknown, next: Document | undefined): void {
    for (const txn of this.#activeTransactions()) if (txn !== this.#committing) txn.preserve(store);
    if (this.#committing) return;
    const unique = next ? store.indexes.uniqueKeys(next) : [];
    const holder = this.#activeTransactions().find((txn) => txn.holds(store.namespace, key) || txn.holdsUniqueKey(store.namespace, unique));
    if (!holder) return;
    // Outside commands (the TTL monitor) the write is skipped and tried again on a later pass.
    if (!this.#inCommand || this.#writesInCommand === 0) throw new Deferral(holder.ended);
    // Unreachable after #dryRun; kept so a write never half-applies: the holder loses instead.
    holder.end('aborted');
  }

  afterWrite(store: CollectionStore, write: StoreWrite): void {
    const clock = ++this.#clock;
    this.#lastWrite.set(`${store.namespace}\0${write.key}`, clock);
    // Unique-index values taken or released count as written too (a transaction that snapshotted before may not take them).
    for (const doc of [write.previous, write.next]) {
      if (doc) for (const unique of store.indexes.uniqueKeys(doc)) this.#lastWrite.set(`${store.namespace}\0${unique}`, clock);
    }
    this.#writesInCommand++;
    if (!this.#committing) this.changes.recordWrite(store, write);
  }

  // ---- ConflictPolicy for transactions ----

  checkWrite(txn: Transaction, namespace: string, key: string, uniqueKeys: readonly string[]): void {
    for (const written of [key, ...uniqueKeys]) if ((this.#lastWrite.get(`${namespace}\0${written}`) ?? 0) > txn.snapshotClock) throw writeConflict();
    const others = this.#activeTransactions().filter((other) => other !== txn);
    if (others.some((other) => other.holds(namespace, key) || other.holdsUniqueKey(namespace, uniqueKeys))) throw writeConflict();
  }

  #plain(name: string, database: string, command: Document, run: (catalog: DatabaseCatalog) => Document): Document {
    if (this.#activeTransactions().length > 0) {
      if (DDL.has(name)) this.#waitForTransactionsUsing(name, database, command);
      if (RETRYABLE_WRITES.has(name)) this.#dryRun(run);
    }
    if (DDL.has(name)) this.#preserveForDdl(name, database, command);
    // Their UUIDs go into the drop/rename events' resume tokens.
    const dropping = DDL.has(name) ? this.#ddlTargets(name, database, command).map((s) => ({ name: s.name, uuid: s.uuid })) : [];
    this.#inCommand = true;
    this.#writesInCommand = 0;
    let reply: Document;
    try {
      reply = run(this.#catalog);
    } finally {
      this.#inCommand = false;
    }
    if (reply.ok === 1) this.changes.recordCommand(name, database, command, reply, dropping);
    return reply;
  }

  /**
   * Runs a write on copies first: if it would touch a document (or unique-index
   * value) a transaction holds, it waits (Deferral) before changing anything,
   * as mongod's write waits for the transaction to end.
   */
  #dryRun(run: (catalog: DatabaseCatalog) => Document): void {
    const active = this.#activeTransactions();
    const checker: StoreObserver = {
      beforeWrite: (store, key, _id, next) => {
        const unique = next ? store.indexes.uniqueKeys(next) : [];
        const holder = active.find((txn) => txn.holds(store.namespace, key) || txn.holdsUniqueKey(store.namespace, unique));
        if (holder) throw new Deferral(holder.ended);
      },
      afterWrite: () => undefined,
    };
    try {
      run(new OverlayCatalog(this.#catalog, checker));
    } catch (error) {
      if (error instanceof Deferral) throw error;
      // Any other failure is the real run's to report.
    }
  }

  /** DDL on a collection a transaction uses waits for it (mongod: the DDL's exclusive lock queues behind the transaction's). */
  #waitForTransactionsUsing(name: string, database: string, command: Document): void {
    const namespaces =
      name === 'dropDatabase'
        ? this.#catalog.collections(database).map((s) => s.namespace)
        : [name === 'renameCollection' ? String(command.renameCollection) : `${database}.${String(command[name])}`];
    const holder = this.#activeTransactions().find((txn) => namespaces.some((ns) => txn.catalog.accessed.has(ns)));
    if (holder) throw new Deferral(holder.ended);
  }

  #transactional(name: string, database: string, lsid: Document, command: Document, run: (catalog: DatabaseCatalog) => Document): Document {
    const txnNumber: unknown = command.txnNumber;
    if (!(txnNumber instanceof Long)) throw new CommandError('InvalidOptions', "'autocommit' field requires a transaction number to also be specified");
    const session = this.#session(lsid);
    if (name === 'commitTransaction') return this.#commit(session, txnNumber);
    if (name === 'abortTransaction') return this.#abort(session, txnNumber);
    if (command.startTransaction === true) {
      if (session.txnNumber && txnNumber.lessThanOrEqual(session.txnNumber)) {
        throw new CommandError(
          'TransactionTooOld',
          `Cannot start transaction ${txnNumber.toString()} on session because a newer transaction ${session.txnNumber.toString()} has already started`,
        );
      }
      if (!ALLOWED_IN_TRANSACTION.has(name)) throw notInTransaction(name);
      session.txn?.end('aborted');
      session.txnNumber = txnNumber;
      session.txn = new Transaction(lsid, txnNumber, this.#clock, this.#catalog, this);
      this.#active.add(session.txn);
    }
    const txn = session.txn;
    if (!txn || !txn.txnNumber.equals(txnNumber) || !txn.active) throw noSuchTransaction(txnNumber, txn);
    if (!ALLOWED_IN_TRANSACTION.has(name)) throw notInTransaction(name);
    // Manual, "Create Collections and Indexes in a Transaction": only on a collection the transaction creates.
    if (
      name === 'createIndexes' &&
      this.#catalog.get(database, String(command.createIndexes)) &&
      !txn.created(`${database}.${String(command.createIndexes)}`)
    ) {
      throw new CommandError(
        'OperationNotSupportedInTransaction',
        `Cannot create new indexes on existing collection ${database}.${String(command.createIndexes)} in a multi-document transaction.`,
      );
    }
    if (
      name === 'aggregate' &&
      Array.isArray(command.pipeline) &&
      (command.pipeline as Document[]).some((s) => '$changeStream' in s || '$out' in s || '$merge' in s)
    ) {
      throw new CommandError(
        'OperationNotSupportedInTransaction',
        'Operation not permitted in transaction :: caused by :: $changeStream, $out and $merge cannot be used in a transaction',
      );
    }
    let reply: Document;
    try {
      reply = run(txn.catalog);
    } catch (error) {
      txn.end('aborted');
      throw error;
    }
    const errors = Array.isArray(reply.writeErrors) ? (reply.writeErrors as Document[]) : [];
    const conflict = errors.find((e) => e.code === 112);
    if (conflict) {
      txn.end('aborted');
      return { ok: 0, errmsg: conflict.errmsg, code: 112, codeName: 'WriteConflict', errorLabels: ['TransientTransactionError'] };
    }
    // Any failed statement aborts the transaction; the client learns it at its next command (251).
    if (reply.ok !== 1 || errors.length > 0) txn.end('aborted');
    return reply;
  }

  #commit(session: Session, txnNumber: Long): Document {
    const txn = session.txn;
    if (txn && txn.txnNumber.equals(txnNumber) && txn.state === 'committed') return { ok: 1 }; // a retried commit
    if (!txn || !txn.txnNumber.equals(txnNumber) || !txn.active) throw noSuchTransaction(txnNumber, txn);
    const plan = txn.catalog.touched().filter(({ store, existed }) => !existed || txn.writes.has(store.namespace));
    try {
      for (const { store, existed } of plan) {
        const base = this.#catalog.get(store.database, store.name);
        // A collection the transaction created that someone else created meanwhile: the transaction loses.
        if (!existed && base) throw writeConflict();
        // Dry run on copies first, so a unique-key clash with a concurrent commit changes nothing.
        if (existed) applyNet(base?.copy() ?? new CollectionStore(store.database, store.name, store.options), store, txn.writes.get(store.namespace));
      }
    } catch (error) {
      txn.end('aborted');
      if (error instanceof CommandError && error.code === 11000) throw writeConflict();
      throw error;
    }
    this.#committing = txn;
    try {
      for (const { store, existed } of plan) {
        // Created in the transaction: installed whole, with the indexes built in it.
        if (!existed) this.#catalog.install(store.copy());
        else
          applyNet(
            this.#catalog.get(store.database, store.name) ?? this.#catalog.create(store.database, store.name, store.options),
            store,
            txn.writes.get(store.namespace),
          );
      }
    } finally {
      this.#committing = undefined;
    }
    this.changes.recordTransaction(txn.ops, { lsid: txn.lsid, txnNumber: txn.txnNumber });
    txn.end('committed');
    return { ok: 1 };
  }

  #abort(session: Session, txnNumber: Long): Document {
    const txn = session.txn;
    if (txn && txn.txnNumber.equals(txnNumber) && txn.state === 'committed') {
      throw new CommandError('TransactionCommitted', `Transaction ${txnNumber.toString()} has been committed.`);
    }
    if (!txn || !txn.txnNumber.equals(txnNumber) || !txn.active) throw noSuchTransaction(txnNumber, txn);
    txn.end('aborted');
    return { ok: 1 };
  }

  #session(lsid: Document): Session {
    const key = BsonValues.canonicalKey(lsid.id);
    let session = this.#sessions.get(key);
    if (!session) this.#sessions.set(key, (session = { txnNumber: undefined, txn: undefined, retried: undefined }));
    return session;
  }

  #endSessions(ids: unknown): void {
    if (!Array.isArray(ids)) return;
    for (const lsid of ids) {
      if (!BsonValues.isPlainObject(lsid)) continue;
      const key = BsonValues.canonicalKey(lsid.id);
      this.#sessions.get(key)?.txn?.end('aborted');
      this.#sessions.delete(key);
    }
  }

  #activeTransactions(): Transaction[] {
    for (const txn of this.#active) if (!txn.active) this.#active.delete(txn);
    return [...this.#active];
  }

  #preserveForDdl(name: string, database: string, command: Document): void {
    const stores = this.#ddlTargets(name, database, command);
    for (const txn of this.#activeTransactions()) for (const store of stores) txn.preserve(store);
  }

  /** The collections a DDL command changes, read before it runs. */
  #ddlTargets(name: string, database: string, command: Document): CollectionStore[] {
    if (name === 'dropDatabase') return this.#catalog.collections(database);
    if (name === 'renameCollection') return this.#catalog.all().filter((s) => s.namespace === command.renameCollection);
    return [this.#catalog.get(database, String(command[name]))].filter((s) => s !== undefined);
  }
}
