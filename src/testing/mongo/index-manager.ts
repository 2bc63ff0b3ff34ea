import type { Document } from 'bson';
import { BsonValues, MISSING } from './bson-values.js';
import { Collation } from './collation.js';
import { CommandError } from './command-error.js';
import { MingoAdapter } from './mingo-adapter.js';

/** An index as listIndexes reports it (`v`, `key`, `name`, then options). */
export type IndexSpec = Document & { v: number; key: Document; name: string };

/** Options that make two otherwise equal index specs different (mongod compares these). */
const SIGNIFICANT_OPTIONS = [
  'unique',
  'sparse',
  'partialFilterExpression',
  'expireAfterSeconds',
  'collation',
  'hidden',
  'weights',
  'default_language',
  '2dsphereIndexVersion',
] as const;
/** Options accepted and echoed back by listIndexes. */
const KNOWN_OPTIONS = new Set<string>([
  ...SIGNIFICANT_OPTIONS,
  'background',
  'language_override',
  'textIndexVersion',
  'bits',
  'min',
  'max',
  'wildcardProjection',
  'storageEngine',
]);

interface IndexEntry {
  spec: IndexSpec;
  fields: string[];
  partial: ((doc: Document) => boolean) | undefined;
  /** Unique indexes only: canonical key → owner (`_id` canonical key). */
  owners: Map<string, string> | undefined;
  /** A strength-1/2 collation folds string keys (so 'Ann' and 'ann' collide). */
  collation: Collation | undefined;
}

interface KeyTuple {
  readonly key: string;
  readonly values: unknown[];
}

/**
 * The secondary indexes of one collection. Only what changes observable
 * behaviour is materialised: unique indexes keep a Map from the canonical key
 * to the owning document (O(1) duplicate checks); TTL and partial/sparse
 * options are kept on the spec. Queries never use indexes (collection scans).
 */
export class IndexManager {
  readonly #entries = new Map<string, IndexEntry>();
  readonly #namespace: string;

  constructor(namespace: string) {
    this.#namespace = namespace;
  }

  /** Specs in creation order, `_id_` first. */
  list(): IndexSpec[] {
    return [{ v: 2, key: { _id: 1 }, name: '_id_' }, ...[...this.#entries.values()].map((e) => e.spec)];
  }

  get size(): number {
    return this.#entries.size + 1;
  }

  ttlIndexes(): Array<{ field: string; seconds: number; partial: ((doc: Document) => boolean) | undefined }> {
    const out = [];
    for (const entry of this.#entries.values()) {
      const seconds: unknown = entry.spec.expireAfterSeconds;
      if (typeof seconds === 'number' && entry.fields.length === 1) {
        out.push({ field: entry.fields[0]!, seconds, partial: entry.partial });
      }
    }
    return out;
  }

  /**
   * Validates a requested spec against existing ones: `isNew` is false when an
   * identical index exists (a no-op), true when it must be built.
   * @throws CommandError 85/86 on conflicts, 67/2 on invalid specs.
   */
  prepare(raw: Document): { spec: IndexSpec; isNew: boolean } {
    const key: unknown = raw.key;
    if (!BsonValues.isPlainObject(key) || Object.keys(key).length === 0) {
      throw new CommandError('CannotCreateIndex', "Index spec must have a non-empty 'key' document");
    }
    const name = typeof raw.name === 'string' ? raw.name : defaultIndexName(key);
    const spec: IndexSpec = { v: 2, key, name };
    for (const [option, value] of Object.entries(raw)) {
      if (option === 'key' || option === 'name' || option === 'v' || option === 'ns') continue;
      if (!KNOWN_OPTIONS.has(option)) {
        throw new CommandError(
          'InvalidIndexSpecificationOption',
          `The field '${option}' is not valid for an index specification. Specification: ${BsonValues.format(raw)}`,
        );
      }
      if (option === 'background') continue;
      if ((option === 'unique' || option === 'sparse') && value === false) continue;
      if (option === 'collation') {
        // mongod stores (and listIndexes reports) the full collation; the simple collation is no collation.
        const collation = Collation.of(value);
        if (collation) spec.collation = collation.described;
        continue;
      }
      spec[option] = value;
    }
    if (name === '_id_' || keyEquals(key, { _id: 1 })) {
      if (name === '_id_' && keyEquals(key, { _id: 1 })) return { spec: this.list()[0]!, isNew: false };
      if (name === '_id_') throw conflict86(spec, this.list()[0]!);
    }
    for (const entry of this.#entries.values()) {
      const existing = entry.spec;
      const sameKey = keyEquals(existing.key, key);
      if (existing.name === name) {
        if (sameKey && sameOptions(existing, spec)) return { spec: existing, isNew: false };
        // Same name with another key or other options (e.g. adding `unique` to an auto-named index).
        throw conflict86(spec, existing);
      }
      if (sameKey && sameOptions(existing, spec)) {
        throw new CommandError('IndexOptionsConflict', `Index already exists with a different name: ${existing.name}`);
      }
      if (sameKey && !samePartialAndCollation(existing, spec)) continue; // mongod allows these side by side
      if (sameKey) {
        throw new CommandError(
          'IndexOptionsConflict',
          `An equivalent index already exists with a different name and options. Requested index: ${BsonValues.format(spec)}, existing index: ${BsonValues.format(existing)}`,
        );
      }
    }
    return { spec, isNew: true };
  }

  /**
   * Builds an index over existing documents, atomically.
   * @throws CommandError 11000 when existing documents violate a unique index.
   */
  build(spec: IndexSpec, docs: Iterable<Document>): void {
    const entry = createEntry(spec);
    if (entry.owners) {
      for (const doc of docs) {
        const owner = BsonValues.canonicalKey(doc._id);
        for (const tuple of keysFor(entry, doc)) {
          const existing = entry.owners.get(tuple.key);
          if (existing !== undefined && existing !== owner) throw this.#duplicate(entry, tuple);
          entry.owners.set(tuple.key, owner);
        }
      }
    }
    this.#entries.set(spec.name, entry);
  }

  /** Drops by name or key pattern; returns the dropped spec. @throws CommandError 27. */
  drop(nameOrKey: string | Document): IndexSpec {
    if (nameOrKey === '_id_' || (typeof nameOrKey !== 'string' && keyEquals(nameOrKey, { _id: 1 }))) {
      throw new CommandError('InvalidOptions', 'cannot drop _id index');
    }
    for (const [name, entry] of this.#entries) {
      if (typeof nameOrKey === 'string' ? name === nameOrKey : keyEquals(entry.spec.key, nameOrKey)) {
        this.#entries.delete(name);
        return entry.spec;
      }
    }
    if (typeof nameOrKey === 'string') throw new CommandError('IndexNotFound', `index not found with name [${nameOrKey}]`);
    throw new CommandError('IndexNotFound', `can't find index with key: ${BsonValues.format(nameOrKey)}`);
  }

  dropAll(): void {
    this.#entries.clear();
  }

  /** Changes `expireAfterSeconds` / `hidden` (collMod). @throws CommandError 27. */
  modify(nameOrKey: string | Document, changes: Document): Document {
    for (const entry of this.#entries.values()) {
      if (typeof nameOrKey === 'string' ? entry.spec.name === nameOrKey : keyEquals(entry.spec.key, nameOrKey)) {
        const result: Document = {};
        if (changes.expireAfterSeconds !== undefined) {
          result.expireAfterSeconds_old = entry.spec.expireAfterSeconds;
          result.expireAfterSeconds_new = changes.expireAfterSeconds;
          entry.spec.expireAfterSeconds = changes.expireAfterSeconds;
        }
        if (changes.hidden !== undefined) {
          result.hidden_old = entry.spec.hidden ?? false;
          result.hidden_new = changes.hidden;
          if (changes.hidden) entry.spec.hidden = true;
          else delete entry.spec.hidden;
        }
        return result;
      }
    }
    throw new CommandError(
      'IndexNotFound',
      `cannot find index ${typeof nameOrKey === 'string' ? nameOrKey : BsonValues.format(nameOrKey)} for ns ${this.#namespace}`,
    );
  }

  /**
   * Checks that `next` can be stored (as a new document or replacing the one
   * with the same `_id`) without violating a unique index. Never mutates.
   * @throws CommandError 11000 with keyPattern/keyValue.
   */
  check(next: Document): void {
    const owner = BsonValues.canonicalKey(next._id);
    for (const entry of this.#entries.values()) {
      if (!entry.owners) continue;
      for (const tuple of keysFor(entry, next)) {
        const existing = entry.owners.get(tuple.key);
        if (existing !== undefined && existing !== owner) throw this.#duplicate(entry, tuple);
      }
    }
  }

  /** The unique-index keys `doc` takes (`<index name>\0<key>`): what two writers of one value contend for. */
  uniqueKeys(doc: Document): string[] {
    const out: string[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.owners) for (const tuple of keysFor(entry, doc)) out.push(`${entry.spec.name}\0${tuple.key}`);
    }
    return out;
  }

  /** Records the change in the unique maps; call only after `check`. */
  apply(previous: Document | undefined, next: Document | undefined): void {
    for (const entry of this.#entries.values()) {
      if (!entry.owners) continue;
      if (previous) {
        const owner = BsonValues.canonicalKey(previous._id);
        for (const tuple of keysFor(entry, previous)) {
          if (entry.owners.get(tuple.key) === owner) entry.owners.delete(tuple.key);
        }
      }
      if (next) {
        const owner = BsonValues.canonicalKey(next._id);
        for (const tuple of keysFor(entry, next)) entry.owners.set(tuple.key, owner);
      }
    }
  }

  #duplicate(entry: IndexEntry, tuple: KeyTuple): CommandError {
    return IndexManager.duplicateKeyError(this.#namespace, entry.spec.name, entry.spec.key, entry.fields, tuple.values);
  }

  /** mongod's E11000 error, with the fields drivers expose on MongoServerError. */
  static duplicateKeyError(namespace: string, indexName: string, keyPattern: Document, fields: string[], values: unknown[]): CommandError {
    const keyValue: Document = {};
    fields.forEach((field, i) => {
      const v = values[i];
      keyValue[field] = v === MISSING || v === undefined ? null : v;
    });
    return new CommandError('DuplicateKey', `E11000 duplicate key error collection: ${namespace} index: ${indexName} dup key: ${BsonValues.format(keyValue)}`, {
      keyPattern,
      keyValue,
    });
  }
}

function createEntry(spec: IndexSpec): IndexEntry {
  const partialFilter: unknown = spec.partialFilterExpression;
  return {
    spec,
    fields: Object.keys(spec.key),
    partial: BsonValues.isPlainObject(partialFilter) ? MingoAdapter.matcher(partialFilter) : undefined,
    owners: spec.unique === true ? new Map() : undefined,
    collation: Collation.of(spec.collation),
  };
}

/** The index keys of a document: one per combination of array elements (multikey). */
function keysFor(entry: IndexEntry, doc: Document): KeyTuple[] {
  if (entry.partial && !entry.partial(doc)) return [];
  const perField = entry.fields.map((field) => BsonValues.valuesAtPath(doc, field));
  if (entry.spec.sparse === true && perField.every((values) => values.length === 1 && values[0] === MISSING)) return [];
  let tuples: unknown[][] = [[]];
  for (const values of perField) {
    const next: unknown[][] = [];
    for (const tuple of tuples) for (const v of values) next.push([...tuple, v]);
    tuples = next;
  }
  const seen = new Set<string>();
  const out: KeyTuple[] = [];
  for (const values of tuples) {
    const key = values.map((v) => BsonValues.canonicalKey(entry.collation?.foldsForMatching ? entry.collation.foldDeep(v) : v)).join('|');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ key, values });
  }
  return out;
}

function defaultIndexName(key: Document): string {
  return Object.entries(key)
    .map(([field, dir]) => `${field}_${String(dir)}`)
    .join('_');
}

function keyEquals(a: Document, b: Document): boolean {
  return BsonValues.canonicalKey(a) === BsonValues.canonicalKey(b);
}

function sameOptions(a: Document, b: Document): boolean {
  return SIGNIFICANT_OPTIONS.every((option) => BsonValues.canonicalKey(a[option]) === BsonValues.canonicalKey(b[option]));
}

function samePartialAndCollation(a: Document, b: Document): boolean {
  return (
    BsonValues.canonicalKey(a.partialFilterExpression) === BsonValues.canonicalKey(b.partialFilterExpression) &&
    BsonValues.canonicalKey(a.collation) === BsonValues.canonicalKey(b.collation)
  );
}

function conflict86(requested: Document, existing: Document): CommandError {
  return new CommandError(
    'IndexKeySpecsConflict',
    `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${BsonValues.format(requested)}, existing index: ${BsonValues.format(existing)}`,
  );
}
