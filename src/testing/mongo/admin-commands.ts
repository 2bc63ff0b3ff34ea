import { BSON, Long, UUID, type Document } from 'bson';
import { BsonValues } from './bson-values.js';
import { collectionName, GENERIC_ARGUMENTS, type CommandContext, type CommandHandler } from './command-context.js';
import { Collation } from './collation.js';
import { CommandError } from './command-error.js';
import { MingoAdapter } from './mingo-adapter.js';
import { MAX_MESSAGE_SIZE_BYTES } from './wire-codec.js';

/** The server version the stand-in impersonates (wire version 21 = MongoDB 7.0). */
export const SERVER_VERSION = '7.0.0';
export const MAX_WIRE_VERSION = 21;
const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;

/**
 * Handshake, diagnostics and catalog commands. The hello reply has no
 * `topologyVersion` on purpose: with it, drivers switch to streaming
 * (awaitable hello with exhaust replies), which the stand-in does not do.
 */
export const adminCommands: Record<string, CommandHandler> = {
  hello: (context) => hello(context, 'hello'),
  isMaster: (context) => hello(context, 'isMaster'),
  ismaster: (context) => hello(context, 'isMaster'),
  ping: () => ({ ok: 1 }),

  buildInfo: () => ({
    version: SERVER_VERSION,
    gitVersion: 'platform-data-stand-in',
    versionArray: [7, 0, 0, 0],
    modules: [],
    allocator: 'system',
    javascriptEngine: 'none',
    sysInfo: 'deprecated',
    bits: 64,
    debug: false,
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    storageEngines: ['ephemeralForTest'],
    ok: 1,
  }),

  serverStatus: (context) => {
    const now = Date.now();
    return {
      host: `${context.server.host}:${context.server.port}`,
      version: SERVER_VERSION,
      process: 'mongod',
      pid: Long.fromNumber(process.pid),
      uptime: Math.floor((now - context.server.startedAt) / 1000),
      uptimeMillis: Long.fromNumber(now - context.server.startedAt),
      uptimeEstimate: Long.fromNumber(Math.floor((now - context.server.startedAt) / 1000)),
      localTime: new Date(now),
      connections: { current: context.server.currentConnections, available: 1_000_000, totalCreated: context.server.totalConnections },
      storageEngine: { name: 'ephemeralForTest', supportsCommittedReads: false, persistent: false },
      ok: 1,
    };
  },

  connectionStatus: () => ({ authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] }, ok: 1 }),
  whatsmyuri: () => ({ you: '127.0.0.1', ok: 1 }),
  getCmdLineOpts: () => ({ argv: ['mongod'], parsed: {}, ok: 1 }),

  // Sessions are accepted and forgotten: the stand-in has no transactions or session state.
  endSessions: () => ({ ok: 1 }),
  refreshSessions: () => ({ ok: 1 }),
  killSessions: () => ({ ok: 1 }),
  killAllSessions: () => ({ ok: 1 }),
  startSession: () => ({ id: { id: new UUID() }, timeoutMinutes: 30, ok: 1 }),

  listDatabases(context) {
    const nameOnly = context.command.nameOnly === true;
    let databases: Document[] = context.catalog.databaseNames().map((name) => {
      const size = context.catalog.collections(name).reduce((sum, c) => sum + c.documents().reduce((s, d) => s + BSON.calculateObjectSize(d), 0), 0);
      return nameOnly ? { name } : { name, sizeOnDisk: size, empty: false };
    });
    const filter: unknown = context.command.filter;
    if (BsonValues.isPlainObject(filter)) databases = MingoAdapter.select(databases, filter);
    if (nameOnly) return { databases, ok: 1 };
    const totalSize = databases.reduce((sum, d) => sum + Number(d.sizeOnDisk ?? 0), 0);
    return { databases, totalSize, totalSizeMb: Math.floor(totalSize / (1024 * 1024)), ok: 1 };
  },

  listCollections(context) {
    const nameOnly = context.command.nameOnly === true;
    let entries: Document[] = context.catalog.collections(context.database).map((store) => ({
      name: store.name,
      type: 'collection',
      options: stripGeneric(store.options),
      info: { readOnly: false, uuid: store.uuid },
      idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
    }));
    const filter: unknown = context.command.filter;
    if (BsonValues.isPlainObject(filter)) entries = MingoAdapter.select(entries, filter);
    if (nameOnly) entries = entries.map((e) => ({ name: e.name, type: e.type }));
    return { cursor: { id: Long.ZERO, ns: `${context.database}.$cmd.listCollections`, firstBatch: entries }, ok: 1 };
  },

  create(context) {
    const name = collectionName(context);
    const options = stripGeneric(context.command, 'create');
    // Like an index's, a collection's default collation is kept (and listed) in full; the simple one is none.
    if (options.collation !== undefined) {
      const collation = Collation.of(options.collation);
      if (collation) options.collation = collation.described;
      else delete options.collation;
    }
    context.catalog.create(context.database, name, options);
    return { ok: 1 };
  },

  collMod(context) {
    const name = collectionName(context);
    const store = context.catalog.get(context.database, name);
    if (!store) throw new CommandError('NamespaceNotFound', `ns does not exist: ${context.database}.${name}`);
    const changes = stripGeneric(context.command, 'collMod');
    const reply: Document = {};
    const options = { ...store.options };
    for (const [key, value] of Object.entries(changes)) {
      if (key === 'validator' || key === 'validationLevel' || key === 'validationAction') {
        options[key] = value;
      } else if (key === 'changeStreamPreAndPostImages') {
        // Manual, collMod → changeStreamPreAndPostImages: {enabled: <boolean>}; later writes record (or stop recording) images.
        if (!BsonValues.isPlainObject(value) || typeof value.enabled !== 'boolean') {
          throw new CommandError(
            'TypeMismatch',
            "BSON field 'collMod.changeStreamPreAndPostImages' is the wrong type, expected type 'object' with a boolean 'enabled'",
          );
        }
        options[key] = { enabled: value.enabled };
      } else if (key === 'index' && BsonValues.isPlainObject(value)) {
        const target = (value.name ?? value.keyPattern) as string | Document | undefined;
        if (target === undefined) throw new CommandError('InvalidOptions', 'must specify either index name or key pattern');
        Object.assign(reply, store.indexes.modify(target, value));
      } else {
        throw new CommandError('InvalidOptions', `${key} is not supported by the MongoDB stand-in's collMod`);
      }
    }
    store.setOptions(options);
    return { ...reply, ok: 1 };
  },

  drop(context) {
    const name = collectionName(context);
    context.cursors.killNamespace(context.database, name);
    const dropped = context.catalog.drop(context.database, name);
    // Since 7.0, dropping a missing collection succeeds.
    if (!dropped) return { ok: 1 };
    return { nIndexesWas: dropped.indexes.size, ns: dropped.namespace, ok: 1 };
  },

  dropDatabase(context) {
    context.cursors.killNamespace(context.database);
    context.catalog.dropDatabase(context.database);
    return { dropped: context.database, ok: 1 };
  },

  renameCollection(context) {
    if (context.database !== 'admin') throw new CommandError('IllegalOperation', 'renameCollection may only be run against the admin database.');
    const from: unknown = context.command.renameCollection;
    const to: unknown = context.command.to;
    if (typeof from !== 'string' || typeof to !== 'string') throw new CommandError('InvalidNamespace', 'Invalid source or target namespace');
    const [fromDb, fromName] = splitNamespace(from);
    const [toDb, toName] = splitNamespace(to);
    context.cursors.killNamespace(fromDb, fromName);
    context.catalog.rename(fromDb, fromName, toDb, toName, context.command.dropTarget === true);
    return { ok: 1 };
  },

  dbStats(context) {
    const colls = context.catalog.collections(context.database);
    const objects = colls.reduce((sum, c) => sum + c.count, 0);
    const dataSize = colls.reduce((sum, c) => sum + c.documents().reduce((s, d) => s + BSON.calculateObjectSize(d), 0), 0);
    return {
      db: context.database,
      collections: colls.length,
      views: 0,
      objects,
      avgObjSize: objects === 0 ? 0 : dataSize / objects,
      dataSize,
      storageSize: dataSize,
      indexes: colls.reduce((sum, c) => sum + c.indexes.size, 0),
      ok: 1,
    };
  },
};

function hello(context: CommandContext, variant: 'hello' | 'isMaster'): Document {
  return {
    ...(context.command.helloOk === true ? { helloOk: true } : {}),
    ...(variant === 'hello' ? { isWritablePrimary: true } : { ismaster: true }),
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: context.server.connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ...(context.replicaSet ? context.replicaSet.helloFields() : {}),
    ok: 1,
  };
}

function stripGeneric(command: Document, commandName?: string): Document {
  const out: Document = {};
  for (const [key, value] of Object.entries(command)) {
    if (key === commandName || GENERIC_ARGUMENTS.has(key)) continue;
    out[key] = value;
  }
  return out;
}

function splitNamespace(namespace: string): [string, string] {
  const dot = namespace.indexOf('.');
  if (dot <= 0 || dot === namespace.length - 1) throw new CommandError('InvalidNamespace', `Invalid namespace specified '${namespace}'`);
  return [namespace.slice(0, dot), namespace.slice(dot + 1)];
}
