import { Long } from 'bson';
import { BsonValues } from './bson-values.js';
import { collectionName, type CommandHandler } from './command-context.js';
import { CommandError } from './command-error.js';
import type { IndexSpec } from './index-manager.js';

/** createIndexes, listIndexes and dropIndexes. */
export const indexCommands: Record<string, CommandHandler> = {
  createIndexes(context) {
    const name = collectionName(context);
    const requested: unknown = context.command.indexes;
    if (!Array.isArray(requested) || requested.length === 0) {
      throw new CommandError('BadValue', 'Must specify at least one index to create');
    }
    const existed = context.catalog.get(context.database, name) !== undefined;
    const store = context.catalog.getOrCreate(context.database, name);
    const before = store.indexes.size;
    // Validate everything first so the command builds all indexes or none.
    const toBuild: IndexSpec[] = [];
    for (const raw of requested) {
      if (!BsonValues.isPlainObject(raw)) throw new CommandError('TypeMismatch', "BSON field 'createIndexes.indexes' must be an array of objects");
      // An index without its own collation inherits the collection's default (manual: "Collation and Index Use").
      const { spec, isNew } = store.indexes.prepare(store.collation !== undefined && !('collation' in raw) ? { ...raw, collation: store.collation } : raw);
      if (!isNew) continue;
      const clash = toBuild.find((s) => s.name === spec.name);
      if (clash) {
        if (BsonValues.canonicalKey(clash) === BsonValues.canonicalKey(spec)) continue;
        throw new CommandError('IndexKeySpecsConflict', `Index with name: ${spec.name} already exists with a different key or options`);
      }
      const expire: unknown = spec.expireAfterSeconds;
      if (expire !== undefined && (typeof expire !== 'number' || expire < 0 || !Number.isFinite(expire))) {
        throw new CommandError('CannotCreateIndex', `TTL index 'expireAfterSeconds' option must be a non-negative number: ${String(expire)}`);
      }
      toBuild.push(spec);
    }
    const built: string[] = [];
    try {
      for (const spec of toBuild) {
        store.indexes.build(spec, store.documents());
        built.push(spec.name);
      }
    } catch (error) {
      for (const builtName of built) store.indexes.drop(builtName);
      throw error;
    }
    return {
      numIndexesBefore: before,
      numIndexesAfter: store.indexes.size,
      ...(toBuild.length === 0 ? { note: 'all indexes already exist' } : {}),
      ...(existed ? {} : { createdCollectionAutomatically: true }),
      ok: 1,
    };
  },

  listIndexes(context) {
    const name = collectionName(context);
    const store = context.catalog.get(context.database, name);
    const namespace = `${context.database}.${name}`;
    if (!store) throw new CommandError('NamespaceNotFound', `ns does not exist: ${namespace}`);
    return { cursor: { id: Long.ZERO, ns: namespace, firstBatch: store.indexes.list() }, ok: 1 };
  },

  dropIndexes(context) {
    const name = collectionName(context);
    const store = context.catalog.get(context.database, name);
    if (!store) throw new CommandError('NamespaceNotFound', `ns not found ${context.database}.${name}`);
    const was = store.indexes.size;
    const index: unknown = context.command.index;
    if (index === '*') {
      store.indexes.dropAll();
    } else if (typeof index === 'string' || BsonValues.isPlainObject(index)) {
      store.indexes.drop(index);
    } else if (Array.isArray(index)) {
      // All or nothing: check every name before dropping any.
      const names = index.filter((n): n is string => typeof n === 'string');
      const existing = new Set(store.indexes.list().map((s) => s.name));
      const missing = names.find((n) => !existing.has(n));
      if (missing !== undefined) throw new CommandError('IndexNotFound', `index not found with name [${missing}]`);
      for (const n of names) store.indexes.drop(n);
    } else {
      throw new CommandError('TypeMismatch', "BSON field 'dropIndexes.index' is the wrong type");
    }
    return { nIndexesWas: was, ok: 1 };
  },
};
