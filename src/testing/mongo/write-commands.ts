import { ObjectId, type Document } from 'bson';
import { BsonValues } from './bson-values.js';
import { collectionName, type CommandContext, type CommandHandler } from './command-context.js';
import { Collation } from './collation.js';
import { CommandError } from './command-error.js';
import { Deferral } from './deferral.js';
import type { CollectionStore } from './collection-store.js';
import { MingoAdapter } from './mingo-adapter.js';

/** insert, update, delete and findAndModify, with mongod's per-statement writeErrors. */
export const writeCommands: Record<string, CommandHandler> = {
  insert(context) {
    const name = collectionName(context);
    const documents = arrayOf(context.command.documents, 'insert.documents');
    const ordered = context.command.ordered !== false;
    const bypassValidation = context.command.bypassDocumentValidation === true;
    const store = context.catalog.getOrCreate(context.database, name);
    let n = 0;
    const writeErrors: Document[] = [];
    documents.forEach((doc, index) => {
      if (ordered && writeErrors.length > 0) return;
      try {
        store.insert(doc, { bypassValidation });
        n++;
      } catch (error) {
        writeErrors.push(asCommandError(error).toWriteError(index));
      }
    });
    return { n, ...(writeErrors.length > 0 ? { writeErrors } : {}), ok: 1 };
  },

  update(context) {
    const name = collectionName(context);
    const updates = arrayOf(context.command.updates, 'update.updates');
    const ordered = context.command.ordered !== false;
    const bypassValidation = context.command.bypassDocumentValidation === true;
    let n = 0;
    let nModified = 0;
    const upserted: Document[] = [];
    const writeErrors: Document[] = [];
    updates.forEach((statement, index) => {
      if (ordered && writeErrors.length > 0) return;
      try {
        const result = updateStatement(context, name, statement, bypassValidation);
        n += result.n;
        nModified += result.nModified;
        if (result.upsertedId !== undefined) upserted.push({ index, _id: result.upsertedId });
      } catch (error) {
        writeErrors.push(asCommandError(error).toWriteError(index));
      }
    });
    return {
      n,
      nModified,
      ...(upserted.length > 0 ? { upserted } : {}),
      ...(writeErrors.length > 0 ? { writeErrors } : {}),
      ok: 1,
    };
  },

  delete(context) {
    const name = collectionName(context);
    const deletes = arrayOf(context.command.deletes, 'delete.deletes');
    const ordered = context.command.ordered !== false;
    const store = context.catalog.get(context.database, name);
    let n = 0;
    const writeErrors: Document[] = [];
    deletes.forEach((statement, index) => {
      if (ordered && writeErrors.length > 0) return;
      try {
        const limit = Number(statement.limit ?? 0);
        if (limit !== 0 && limit !== 1) throw new CommandError('FailedToParse', `The limit field in delete objects must be 0 or 1. Got ${limit}`);
        if (!store) return;
        store.checkHint(statement.hint);
        const matches = MingoAdapter.select(store.candidates(docOf(statement.q, 'q')), docOf(statement.q, 'q'), {
          limit: limit === 1 ? 1 : undefined,
          collation: Collation.of(statement.collation, store.collation),
          variables: context.command.let as Document | undefined,
        });
        for (const doc of matches) if (store.delete(doc)) n++;
      } catch (error) {
        writeErrors.push(asCommandError(error).toWriteError(index));
      }
    });
    return { n, ...(writeErrors.length > 0 ? { writeErrors } : {}), ok: 1 };
  },

  findAndModify(context) {
    const name = collectionName(context);
    const cmd = context.command;
    const query = docOf(cmd.query ?? {}, 'query');
    const remove = cmd.remove === true;
    const update: unknown = cmd.update;
    const returnNew = cmd.new === true;
    const fields = cmd.fields as Document | undefined;
    const variables = cmd.let as Document | undefined;
    if (remove && update !== undefined) throw new CommandError('FailedToParse', 'Cannot specify both an update and remove=true');
    if (!remove && update === undefined) throw new CommandError('FailedToParse', 'Either an update or remove=true must be specified');
    if (remove && cmd.upsert === true) throw new CommandError('FailedToParse', 'Cannot specify both upsert=true and remove=true');
    if (remove && returnNew)
      throw new CommandError('FailedToParse', "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document");
    const store = context.catalog.get(context.database, name);
    store?.checkHint(cmd.hint);
    const [found] = store
      ? MingoAdapter.select(store.candidates(query), query, {
          sort: cmd.sort as Document | undefined,
          limit: 1,
          collation: Collation.of(cmd.collation, store.collation),
          variables,
        })
      : [];
    const project = (doc: Document | undefined): Document | null => (doc ? MingoAdapter.project(doc, fields, query) : null);
    if (remove) {
      if (found && store) store.delete(found);
      return { lastErrorObject: { n: found ? 1 : 0 }, value: project(found), ok: 1 };
    }
    const modifier = update as Document | Document[];
    const bypassValidation = cmd.bypassDocumentValidation === true;
    if (found && store) {
      const next = MingoAdapter.applyUpdate(found, modifier, {
        filter: query,
        arrayFilters: cmd.arrayFilters as Document[] | undefined,
        isInsert: false,
        variables,
      });
      let stored = found;
      if (!BsonValues.sameDocument(found, next)) {
        store.replace(found, next, { bypassValidation, ...writeKind(modifier) });
        stored = store.findById(found._id) ?? next;
      }
      return { lastErrorObject: { n: 1, updatedExisting: true }, value: project(returnNew ? stored : found), ok: 1 };
    }
    if (cmd.upsert === true) {
      const inserted = upsert(context.catalog.getOrCreate(context.database, name), query, modifier, variables, bypassValidation);
      return { lastErrorObject: { n: 1, updatedExisting: false, upserted: inserted._id }, value: returnNew ? project(inserted) : null, ok: 1 };
    }
    return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
  },
};

function updateStatement(
  context: CommandContext,
  name: string,
  statement: Document,
  bypassValidation: boolean,
): { n: number; nModified: number; upsertedId?: unknown } {
  const query = docOf(statement.q ?? {}, 'q');
  const modifier: unknown = statement.u;
  if (modifier === undefined || modifier === null || typeof modifier !== 'object') {
    throw new CommandError('FailedToParse', "BSON field 'update.updates.u' is missing but a required field");
  }
  const update = modifier as Document | Document[];
  const multi = statement.multi === true;
  const isReplacement = !Array.isArray(update) && !Object.keys(update).some((k) => k.startsWith('$'));
  if (multi && isReplacement) throw new CommandError('FailedToParse', 'multi update is not supported for replacement-style update');
  const variables = (statement.c ?? context.command.let) as Document | undefined;
  const store = context.catalog.get(context.database, name);
  store?.checkHint(statement.hint);
  const matches = store
    ? MingoAdapter.select(store.candidates(query), query, {
        limit: multi ? undefined : 1,
        sort: statement.sort as Document | undefined,
        collation: Collation.of(statement.collation, store.collation),
        variables,
      })
    : [];
  if (matches.length === 0) {
    if (statement.upsert !== true) return { n: 0, nModified: 0 };
    const inserted = upsert(context.catalog.getOrCreate(context.database, name), query, update, variables, bypassValidation);
    return { n: 1, nModified: 0, upsertedId: inserted._id };
  }
  let nModified = 0;
  for (const doc of matches) {
    const next = MingoAdapter.applyUpdate(doc, update, {
      filter: query,
      arrayFilters: statement.arrayFilters as Document[] | undefined,
      isInsert: false,
      variables,
    });
    if (BsonValues.sameDocument(doc, next)) continue;
    store!.replace(doc, next, { bypassValidation, ...writeKind(update) });
    nModified++;
  }
  return { n: matches.length, nModified };
}

/** Builds and inserts the upserted document: the query's equality fields, then the update. */
function upsert(store: CollectionStore, query: Document, update: Document | Document[], variables: Document | undefined, bypassValidation: boolean): Document {
  const seed = upsertSeed(query);
  const isReplacement = !Array.isArray(update) && !Object.keys(update).some((k) => k.startsWith('$'));
  let doc: Document;
  if (isReplacement) {
    const replacement = update as Document;
    if ('_id' in seed && '_id' in replacement && BsonValues.canonicalKey(seed._id) !== BsonValues.canonicalKey(replacement._id)) {
      throw new CommandError('ImmutableField', "The _id field cannot be changed from the query's _id in an upsert");
    }
    doc = '_id' in seed ? { _id: seed._id, ...replacement } : { ...replacement };
  } else {
    doc = MingoAdapter.applyUpdate(seed, update, { filter: query, isInsert: true, variables });
    if ('_id' in seed && BsonValues.canonicalKey(doc._id) !== BsonValues.canonicalKey(seed._id)) {
      throw new CommandError('ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
    }
  }
  if (!('_id' in doc)) doc = { _id: new ObjectId(), ...doc };
  return store.insert(doc, { bypassValidation });
}

/** mongod's "equality fields of the query" that seed an upserted document. */
function upsertSeed(query: Document): Document {
  const seed: Document = {};
  const visit = (filter: Document): void => {
    for (const [key, value] of Object.entries(filter)) {
      if ((key === '$and' || (key === '$or' && Array.isArray(value) && value.length === 1)) && Array.isArray(value)) {
        for (const clause of value) if (BsonValues.isPlainObject(clause)) visit(clause);
        continue;
      }
      if (key.startsWith('$')) continue;
      if (BsonValues.isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'))) {
        if ('$eq' in value) BsonValues.setPath(seed, key, BsonValues.clone(value.$eq));
        // A one-element $in is an equality (mongod rewrites it to $eq).
        else if (Array.isArray(value.$in) && value.$in.length === 1) BsonValues.setPath(seed, key, BsonValues.clone(value.$in[0] as unknown));
        continue;
      }
      if (value instanceof RegExp) continue;
      BsonValues.setPath(seed, key, BsonValues.clone(value));
    }
  };
  visit(query);
  if ('_id' in seed && Object.keys(seed)[0] !== '_id') {
    const { _id, ...rest } = seed;
    return { _id, ...rest };
  }
  return seed;
}

/** How change streams report the write: a replacement document or an update (operators or pipeline). */
function writeKind(update: Document | Document[]): { kind: 'update' | 'replace'; update: Document | Document[] } {
  const isReplacement = !Array.isArray(update) && !Object.keys(update).some((k) => k.startsWith('$'));
  return { kind: isReplacement ? 'replace' : 'update', update };
}

function arrayOf(value: unknown, field: string): Document[] {
  if (!Array.isArray(value)) throw new CommandError('FailedToParse', `BSON field '${field}' is missing but a required field`);
  return value as Document[];
}

function docOf(value: unknown, field: string): Document {
  if (!BsonValues.isPlainObject(value)) throw new CommandError('TypeMismatch', `BSON field '${field}' is the wrong type, expected type 'object'`);
  return value;
}

function asCommandError(error: unknown): CommandError {
  if (error instanceof CommandError) return error;
  if (error instanceof Deferral) throw error; // blocked by a transaction: the whole command waits and re-runs
  return new CommandError('InternalError', error instanceof Error ? error.message : String(error));
}
