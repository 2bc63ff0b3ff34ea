import { CollectionStore, type CollectionOptions, type StoreObserver } from './collection-store.js';
import { CommandError } from './command-error.js';

/** Options `create` accepts and keeps; anything else is rejected like mongod does (code 40415). */
const ALLOWED_CREATE_OPTIONS = new Set([
  'capped',
  'size',
  'max',
  'validator',
  'validationLevel',
  'validationAction',
  'collation',
  'storageEngine',
  'indexOptionDefaults',
  'changeStreamPreAndPostImages',
  'comment',
  'autoIndexId',
  'flags',
]);

/** All databases and their collections. A database exists while it has a collection. */
export class DatabaseCatalog {
  readonly #databases = new Map<string, Map<string, CollectionStore>>();
  #observer: StoreObserver | undefined;

  /** Watches every write to every collection, present and future (the replica-set mode). */
  observeWith(observer: StoreObserver): void {
    this.#observer = observer;
    for (const store of this.all()) store.observer = observer;
  }

  databaseNames(): string[] {
    return [...this.#databases.entries()].filter(([, colls]) => colls.size > 0).map(([name]) => name);
  }

  collections(database: string): CollectionStore[] {
    return [...(this.#databases.get(database)?.values() ?? [])];
  }

  get(database: string, name: string): CollectionStore | undefined {
    return this.#databases.get(database)?.get(name);
  }

  /** The collection, created implicitly (as mongod does on first write) when missing. */
  getOrCreate(database: string, name: string): CollectionStore {
    return this.get(database, name) ?? this.create(database, name, {});
  }

  /** @throws CommandError 48 when it exists, 73 for an invalid name, 40415-like 2 for unknown options. */
  create(database: string, name: string, options: CollectionOptions): CollectionStore {
    validateName(database, name);
    for (const key of Object.keys(options)) {
      if (key === 'viewOn' || key === 'pipeline') throw new CommandError('NotImplemented', 'views are not supported by the MongoDB stand-in');
      if (key === 'timeseries' || key === 'clusteredIndex' || key === 'expireAfterSeconds' || key === 'encryptedFields') {
        throw new CommandError('NotImplemented', `'${key}' collections are not supported by the MongoDB stand-in`);
      }
      if (!ALLOWED_CREATE_OPTIONS.has(key)) throw new CommandError('BadValue', `BSON field 'create.${key}' is an unknown field.`);
    }
    if (this.get(database, name)) throw new CommandError('NamespaceExists', `Collection ${database}.${name} already exists.`);
    let colls = this.#databases.get(database);
    if (!colls) {
      colls = new Map();
      this.#databases.set(database, colls);
    }
    const store = new CollectionStore(database, name, options);
    store.observer = this.#observer;
    colls.set(name, store);
    return store;
  }

  /** Installs a fully built collection (snapshot restore). */
  install(store: CollectionStore): void {
    let colls = this.#databases.get(store.database);
    if (!colls) {
      colls = new Map();
      this.#databases.set(store.database, colls);
    }
    store.observer = this.#observer;
    colls.set(store.name, store);
  }

  drop(database: string, name: string): CollectionStore | undefined {
    const colls = this.#databases.get(database);
    const store = colls?.get(name);
    if (!colls || !store) return undefined;
    colls.delete(name);
    if (colls.size === 0) this.#databases.delete(database);
    return store;
  }

  dropDatabase(database: string): void {
    this.#databases.delete(database);
  }

  /** @throws CommandError 26 when the source is missing, 48 when the target exists and dropTarget is false. */
  rename(fromDb: string, fromName: string, toDb: string, toName: string, dropTarget: boolean): void {
    const source = this.get(fromDb, fromName);
    if (!source) throw new CommandError('NamespaceNotFound', 'Source collection does not exist');
    if (this.get(toDb, toName)) {
      if (!dropTarget) throw new CommandError('NamespaceExists', 'target namespace exists');
      this.drop(toDb, toName);
    }
    validateName(toDb, toName);
    const target = new CollectionStore(toDb, toName, source.options);
    for (const spec of source.indexes.list().slice(1)) target.indexes.build(spec, []);
    for (const doc of source.documents()) target.insert(doc, { bypassValidation: true });
    this.drop(fromDb, fromName);
    this.install(target);
  }

  all(): CollectionStore[] {
    return [...this.#databases.values()].flatMap((colls) => [...colls.values()]);
  }

  clear(): void {
    this.#databases.clear();
  }
}

function validateName(database: string, name: string): void {
  if (!database || /[/\\. "$\0]/.test(database)) throw new CommandError('InvalidNamespace', `Invalid database name: '${database}'`);
  if (!name || name.includes('\0') || name.startsWith('.') || name.includes('$')) {
    throw new CommandError('InvalidNamespace', `Invalid collection name: ${name}`);
  }
}
