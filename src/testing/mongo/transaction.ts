import { Long, type Document } from 'bson';
import { BsonValues } from './bson-values.js';
import type { CollectionOptions, CollectionStore, StoreObserver, StoreWrite } from './collection-store.js';
import { CommandError } from './command-error.js';
import { DatabaseCatalog } from './database-catalog.js';

/** mongod's answer to a transaction touching a document another writer holds or changed since its snapshot. */
export function writeConflict(): CommandError {
  return new CommandError(
    'WriteConflict',
    'Caused by :: Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.',
    {
      errorLabels: ['TransientTransactionError'],
    },
  );
}

/** Decides whether a transaction may write a document (the replica-set mode checks other writers). */
export interface ConflictPolicy {
  /**
   * @throws CommandError 112 when the document was committed after the transaction's snapshot, or another
   * transaction holds it or one of its unique-index keys.
   */
  checkWrite(txn: Transaction, namespace: string, key: string, uniqueKeys: readonly string[]): void;
}

interface Touched {
  readonly store: CollectionStore;
  /** False when the transaction created the collection. */
  readonly existed: boolean;
}

/**
 * One multi-document transaction: private copies of the collections it
 * touches (taken at its snapshot point, see ReplicaSetMode), the documents it
 * wrote (its write set) and its writes in order (they become change events
 * at commit).
 */
export class Transaction implements StoreObserver {
  readonly lsid: Document;
  readonly txnNumber: Long;
  /** The base write clock when the transaction started: its snapshot. */
  readonly snapshotClock: number;
  readonly startedAt = Date.now();
  readonly catalog: OverlayCatalog;
  /** namespace → canonical `_id` key → `_id`. */
  readonly writes = new Map<string, Map<string, unknown>>();
  /** namespace → unique-index keys its written documents take. */
  readonly uniqueKeys = new Map<string, Set<string>>();
  readonly ops: Array<{ readonly store: CollectionStore; readonly write: StoreWrite }> = [];
  /** Resolves when the transaction commits or aborts (writes waiting on it then re-run). */
  readonly ended: Promise<void>;
  #state: 'inProgress' | 'committed' | 'aborted' = 'inProgress';
  #resolveEnded!: () => void;
  readonly #policy: ConflictPolicy;

  constructor(lsid: Document, txnNumber: Long, snapshotClock: number, base: DatabaseCatalog, policy: ConflictPolicy) {
    this.lsid = lsid;
    this.txnNumber = txnNumber;
    this.snapshotClock = snapshotClock;
    this.#policy = policy;
    this.catalog = new OverlayCatalog(base, this);
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve));
  }

  get state(): 'inProgress' | 'committed' | 'aborted' {
    return this.#state;
  }

  get active(): boolean {
    return this.#state === 'inProgress';
  }

  end(state: 'committed' | 'aborted'): void {
    if (!this.active) return;
    this.#state = state;
    this.#resolveEnded();
  }

  holds(namespace: string, key: string): boolean {
    return this.writes.get(namespace)?.has(key) ?? false;
  }

  /** True when the transaction created this collection. */
  created(namespace: string): boolean {
    return this.catalog.touched().some(({ store, existed }) => !existed && store.namespace === namespace);
  }

  holdsUniqueKey(namespace: string, keys: readonly string[]): boolean {
    const held = this.uniqueKeys.get(namespace);
    return held !== undefined && keys.some((k) => held.has(k));
  }

  /** Keeps the collection as it is now, unless the transaction already has its copy (called before a base write). */
  preserve(store: CollectionStore): void {
    this.catalog.adopt(store, true);
  }

  beforeWrite(store: CollectionStore, key: string, id: unknown, next: Document | undefined): void {
    const unique = next ? store.indexes.uniqueKeys(next) : [];
    this.#policy.checkWrite(this, store.namespace, key, unique);
    let keys = this.writes.get(store.namespace);
    if (!keys) this.writes.set(store.namespace, (keys = new Map()));
    keys.set(key, id);
    let held = this.uniqueKeys.get(store.namespace);
    if (!held) this.uniqueKeys.set(store.namespace, (held = new Set()));
    for (const k of unique) held.add(k);
  }

  afterWrite(store: CollectionStore, write: StoreWrite): void {
    this.ops.push({ store, write });
  }
}

/**
 * Private copies of the shared catalog's collections, each copied on first
 * use (or handed in earlier by `adopt`), whose writes `observer` sees: what
 * commands inside a transaction see, and the scratch a write runs on first
 * to learn whether it must wait for a transaction.
 */
export class OverlayCatalog extends DatabaseCatalog {
  readonly #base: DatabaseCatalog;
  readonly #observer: StoreObserver;
  readonly #touched = new Map<string, Touched>();
  /** Namespaces commands used (not those only kept for the snapshot). */
  readonly accessed = new Set<string>();

  constructor(base: DatabaseCatalog, observer: StoreObserver) {
    super();
    this.#base = base;
    this.#observer = observer;
  }

  /** Copies `store` in unless this catalog already has that collection. */
  adopt(store: CollectionStore, existed: boolean): void {
    if (this.#touched.has(store.namespace)) return;
    const copy = existed ? store.copy() : store;
    copy.observer = this.#observer;
    this.#touched.set(store.namespace, { store: copy, existed });
  }

  override get(database: string, name: string): CollectionStore | undefined {
    const namespace = `${database}.${name}`;
    this.accessed.add(namespace);
    const touched = this.#touched.get(namespace);
    if (touched) return touched.store;
    const base = this.#base.get(database, name);
    if (!base) return undefined;
    this.adopt(base, true);
    return this.#touched.get(namespace)!.store;
  }

  override create(database: string, name: string, options: CollectionOptions): CollectionStore {
    if (this.get(database, name)) throw new CommandError('NamespaceExists', `Collection ${database}.${name} already exists.`);
    // A scratch catalog validates the name and options exactly as the shared one does.
    const store = new DatabaseCatalog().create(database, name, options);
    this.adopt(store, false);
    return store;
  }

  override collections(database: string): CollectionStore[] {
    const names = new Set([
      ...this.#base.collections(database).map((s) => s.name),
      ...[...this.#touched.values()].filter((t) => t.store.database === database).map((t) => t.store.name),
    ]);
    return [...names].map((name) => this.get(database, name)!);
  }

  touched(): Touched[] {
    return [...this.#touched.values()];
  }
}

/** Makes `target` hold the transaction's final version of every document it wrote. */
export function applyNet(target: CollectionStore, local: CollectionStore, keys: Map<string, unknown> | undefined): void {
  for (const key of keys?.keys() ?? []) {
    const doc = local.findByKey(key);
    const previous = target.findByKey(key);
    if (doc && previous) target.replace(previous, doc, { bypassValidation: true });
    else if (doc) target.insert(doc, { bypassValidation: true });
    else if (previous) target.delete(previous);
  }
}

/**
 * The writeConcernError a one-member replica set reports after applying a
 * write whose `w` it cannot satisfy: more than one member (100), or a tag
 * mode its configuration lacks (79).
 */
export function unsatisfiableWriteConcern(writeConcern: unknown): Document | undefined {
  if (!BsonValues.isPlainObject(writeConcern)) return undefined;
  const w: unknown = writeConcern.w instanceof Long ? writeConcern.w.toNumber() : writeConcern.w;
  const errInfo = { writeConcern: { ...writeConcern, provenance: 'clientSupplied' } };
  if (typeof w === 'number' && w > 1) return { code: 100, codeName: 'UnsatisfiableWriteConcern', errmsg: 'Not enough data-bearing nodes', errInfo };
  if (typeof w === 'string' && w !== 'majority') {
    return { code: 79, codeName: 'UnknownReplWriteConcern', errmsg: `No write concern mode named '${w}' found in replica set configuration`, errInfo };
  }
  return undefined;
}

export function noSuchTransaction(txnNumber: Long, txn: Transaction | undefined): CommandError {
  const message =
    txn && txn.txnNumber.equals(txnNumber)
      ? `Transaction with { txnNumber: ${txnNumber.toString()} } has been aborted.`
      : `Given transaction number ${txnNumber.toString()} does not match any in-progress transactions.${txn ? ` The active transaction number is ${txn.txnNumber.toString()}` : ''}`;
  return new CommandError('NoSuchTransaction', message, { errorLabels: ['TransientTransactionError'] });
}

export function notInTransaction(name: string): CommandError {
  return new CommandError('OperationNotSupportedInTransaction', `Cannot run '${name}' in a multi-document transaction.`);
}
