import { BSON, ObjectId, UUID, type Document } from 'bson';
import { BsonJsonSchema } from './bson-json-schema.js';
import { BsonValues } from './bson-values.js';
import { CommandError } from './command-error.js';
import { IndexManager } from './index-manager.js';
import { MingoAdapter } from './mingo-adapter.js';

/** mongod's BSONObjMaxUserSize. */
const MAX_USER_DOCUMENT_BYTES = 16 * 1024 * 1024;

/** Collection options kept as given to `create` (and reported by listCollections). */
export type CollectionOptions = Document;

/** How a stored document changed: `update` and `replace` differ only for change streams. */
export type WriteKind = 'insert' | 'update' | 'replace' | 'delete';

/** One applied write; `previous`/`next` are the stored documents before and after. */
export interface StoreWrite {
  readonly kind: WriteKind;
  readonly key: string;
  readonly id: unknown;
  readonly previous: Document | undefined;
  readonly next: Document | undefined;
  /** For `update`: the update document or pipeline that was applied. */
  readonly update?: Document | Document[] | undefined;
}

/**
 * Told about every write to a store (the replica-set mode's transactions and
 * change streams). `beforeWrite` may throw to refuse the write before anything changes.
 */
export interface StoreObserver {
  /** `next` is the document about to be stored (undefined for a delete). */
  beforeWrite(store: CollectionStore, key: string, id: unknown, next: Document | undefined): void;
  afterWrite(store: CollectionStore, write: StoreWrite): void;
}

/**
 * The documents of one collection, in natural (insertion) order, keyed by the
 * canonical form of `_id`. Every mutator is synchronous and checks everything
 * (validator, unique indexes) before changing anything, so each write is
 * atomic with respect to other connections.
 */
export class CollectionStore {
  readonly database: string;
  readonly name: string;
  readonly uuid: UUID;
  readonly indexes: IndexManager;
  /** Set by the replica-set mode; standalone stores have none. */
  observer: StoreObserver | undefined;
  #options: CollectionOptions;
  #validator: ((doc: Document) => boolean) | undefined;
  readonly #docs = new Map<string, Document>();

  constructor(database: string, name: string, options: CollectionOptions = {}, uuid: UUID = new UUID()) {
    this.database = database;
    this.name = name;
    this.uuid = uuid;
    this.indexes = new IndexManager(this.namespace);
    this.#options = {};
    this.setOptions(options);
  }

  get namespace(): string {
    return `${this.database}.${this.name}`;
  }

  get options(): CollectionOptions {
    return this.#options;
  }

  get count(): number {
    return this.#docs.size;
  }

  /** Replaces the validator settings (create / collMod). */
  setOptions(options: CollectionOptions): void {
    const validator: unknown = options.validator;
    this.#validator = BsonValues.isPlainObject(validator) && Object.keys(validator).length > 0 ? MingoAdapter.matcher(validator) : undefined;
    this.#options = options;
  }

  /** Snapshot of the documents in natural order (the stored objects; never mutate them). */
  documents(): Document[] {
    return [...this.#docs.values()];
  }

  /**
   * The documents a filter can match: a direct `_id` lookup when the filter
   * pins `_id` to one value (the common by-id read/update), the listed ids for
   * `_id: {$in: [...]}` of plain strings, numbers or ObjectIds under the simple
   * collation (`simpleCollation`; mongod answers both from the `_id` index
   * instead of testing every document), else all.
   */
  candidates(filter: Document, options: { readonly simpleCollation?: boolean } = {}): Document[] {
    const id: unknown = filter._id;
    if (options.simpleCollation === true) {
      const listed = this.#listedIds(id);
      if (listed) return listed;
    }
    if (id === undefined || id instanceof RegExp || Array.isArray(id)) return this.documents();
    if (BsonValues.isPlainObject(id) && Object.keys(id).some((k) => k.startsWith('$'))) return this.documents();
    const found = this.findById(id);
    return found ? [found] : [];
  }

  /**
   * Checks a command's `hint` (an index name or key pattern).
   * @throws CommandError 2 when no such index exists, as mongod's planner does.
   */
  checkHint(hint: unknown): void {
    if (hint === undefined || hint === null) return;
    if (BsonValues.isPlainObject(hint) && Object.keys(hint).length === 0) return;
    if (BsonValues.isPlainObject(hint) && '$natural' in hint) return;
    const found = this.indexes
      .list()
      .some((spec) => (typeof hint === 'string' ? spec.name === hint : BsonValues.canonicalKey(spec.key) === BsonValues.canonicalKey(hint)));
    if (!found) throw new CommandError('BadValue', 'planner returned error :: caused by :: hint provided does not correspond to an existing index');
  }

  /** The collection's default collation (`create {collation}`), if any. */
  get collation(): unknown {
    return this.#options.collation;
  }

  /** The documents whose `_id` an `{$in: [...]}` of plain values names, in natural order; undefined for any other condition. */
  #listedIds(condition: unknown): Document[] | undefined {
    if (!BsonValues.isPlainObject(condition)) return undefined;
    const keys = Object.keys(condition);
    const list: unknown = condition.$in;
    if (keys.length !== 1 || !Array.isArray(list)) return undefined;
    const wanted = new Set<string>();
    for (const value of list) {
      const plain = typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || value instanceof ObjectId;
      if (!plain) return undefined;
      wanted.add(BsonValues.canonicalKey(value));
    }
    const found: Document[] = [];
    for (const [key, doc] of this.#docs) if (wanted.has(key)) found.push(doc);
    return found;
  }

  findById(id: unknown): Document | undefined {
    return this.#docs.get(BsonValues.canonicalKey(id));
  }

  /** The document stored under a canonical `_id` key. */
  findByKey(key: string): Document | undefined {
    return this.#docs.get(key);
  }

  /**
   * An independent copy (same uuid, options, indexes and documents, no
   * observer): a transaction's snapshot. Documents are shared, never mutated.
   */
  copy(): CollectionStore {
    const copy = new CollectionStore(this.database, this.name, this.#options, this.uuid);
    for (const spec of this.indexes.list().slice(1)) copy.indexes.build(spec, this.#docs.values());
    for (const [key, doc] of this.#docs) copy.#docs.set(key, doc);
    return copy;
  }

  /**
   * Inserts one document (an `_id` is generated when missing and put first).
   * @throws CommandError 121 (validator), 11000 (unique index), 2 (bad _id).
   */
  insert(input: Document, options: { bypassValidation?: boolean } = {}): Document {
    const doc = '_id' in input ? moveIdFirst(input) : { _id: new ObjectId(), ...input };
    if (Array.isArray(doc._id)) throw new CommandError('BadValue', "can't use an array for _id");
    if (doc._id instanceof RegExp) throw new CommandError('BadValue', "can't use a regex for _id");
    const size = BSON.calculateObjectSize(doc);
    if (size > MAX_USER_DOCUMENT_BYTES)
      throw new CommandError('BadValue', `object to insert too large. size in bytes: ${size}, max size: ${MAX_USER_DOCUMENT_BYTES}`);
    if (!options.bypassValidation) this.#validate(doc, undefined);
    const key = BsonValues.canonicalKey(doc._id);
    this.observer?.beforeWrite(this, key, doc._id, doc);
    if (this.#docs.has(key)) {
      throw IndexManager.duplicateKeyError(this.namespace, '_id_', { _id: 1 }, ['_id'], [doc._id]);
    }
    this.indexes.check(doc);
    this.indexes.apply(undefined, doc);
    this.#docs.set(key, doc);
    this.observer?.afterWrite(this, { kind: 'insert', key, id: doc._id, previous: undefined, next: doc });
    this.#enforceCap();
    return doc;
  }

  /** A capped collection drops its oldest documents beyond `max` documents or `size` bytes. */
  #enforceCap(): void {
    if (this.#options.capped !== true) return;
    const max = Number(this.#options.max ?? 0);
    const size = Number(this.#options.size ?? 0);
    let bytes = size > 0 ? this.documents().reduce((sum, d) => sum + BSON.calculateObjectSize(d), 0) : 0;
    for (const oldest of this.#docs.values()) {
      const overCount = max > 0 && this.#docs.size > max;
      const overSize = size > 0 && bytes > size;
      if ((!overCount && !overSize) || this.#docs.size <= 1) return;
      bytes -= BSON.calculateObjectSize(oldest);
      this.delete(oldest);
    }
  }

  /**
   * Replaces a stored document by its updated version (same `_id`, same
   * position in natural order).
   * @throws CommandError 66 (changed _id), 121, 11000.
   */
  replace(previous: Document, next: Document, options: { bypassValidation?: boolean; kind?: 'update' | 'replace'; update?: Document | Document[] } = {}): void {
    const key = BsonValues.canonicalKey(previous._id);
    this.observer?.beforeWrite(this, key, previous._id, next);
    if (!('_id' in next)) next = { _id: previous._id, ...next };
    if (BsonValues.canonicalKey(next._id) !== key) {
      throw new CommandError('ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
    }
    next = moveIdFirst(next);
    if (BSON.calculateObjectSize(next) > MAX_USER_DOCUMENT_BYTES) {
      throw new CommandError('Location17419', `Resulting document after update is larger than ${MAX_USER_DOCUMENT_BYTES}`);
    }
    if (!options.bypassValidation) this.#validate(next, previous);
    this.indexes.check(next);
    const stored = this.#docs.get(key);
    this.indexes.apply(stored, next);
    this.#docs.set(key, next);
    this.observer?.afterWrite(this, { kind: options.kind ?? 'update', key, id: next._id, previous: stored, next, update: options.update });
  }

  delete(doc: Document): boolean {
    const key = BsonValues.canonicalKey(doc._id);
    const stored = this.#docs.get(key);
    if (!stored) return false;
    this.observer?.beforeWrite(this, key, stored._id, undefined);
    this.indexes.apply(stored, undefined);
    this.#docs.delete(key);
    this.observer?.afterWrite(this, { kind: 'delete', key, id: stored._id, previous: stored, next: undefined });
    return true;
  }

  #validate(doc: Document, previous: Document | undefined): void {
    if (!this.#validator) return;
    const level: unknown = this.#options.validationLevel ?? 'strict';
    const action: unknown = this.#options.validationAction ?? 'error';
    if (level === 'off' || action === 'warn') return;
    // 'moderate' leaves documents that were already invalid alone.
    if (level === 'moderate' && previous && !this.#validator(previous)) return;
    if (this.#validator(doc)) return;
    const schema = (this.#options.validator as Document).$jsonSchema as Document | undefined;
    throw new CommandError('DocumentValidationFailure', 'Document failed validation', {
      errInfo: {
        failingDocumentId: doc._id,
        details: schema
          ? {
              operatorName: '$jsonSchema',
              ...(typeof schema.title === 'string' ? { title: schema.title } : {}),
              schemaRulesNotSatisfied: BsonJsonSchema.describeLastErrors(),
            }
          : { operatorName: '$expr', specifiedAs: this.#options.validator, reason: 'expression did not match' },
      },
    });
  }
}

function moveIdFirst(doc: Document): Document {
  if (Object.keys(doc)[0] === '_id') return doc;
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}
