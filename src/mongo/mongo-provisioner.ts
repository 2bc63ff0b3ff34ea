import { isDeepStrictEqual } from 'node:util';
import type { mongo } from 'mongoose';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { StoreUnavailableError } from '../errors.js';
import type { ProvisionStep, StoreProvisioner } from '../store-provisioner.js';
import { CONFIG } from '../tokens.js';
import { mapMongoError } from './map-mongo-error.js';
import { mongoCollectionSpecs, type MongoCollectionSpec, type MongoIndexSpec } from './mongo-collection-specs.js';
import { MongoConnection } from './mongo-connection.js';

/** What provisioning would still have to do for one collection. */
export interface MongoCollectionStatus {
  readonly name: string;
  readonly exists: boolean;
  readonly validator: 'ok' | 'missing' | 'outdated';
  readonly missingIndexes: readonly string[];
  /** Present under the same name with another key, uniqueness or TTL. */
  readonly outdatedIndexes: readonly string[];
}

type Db = mongo.Db;
type Document = mongo.Document;

const NAMESPACE_EXISTS = 48;
const VALIDATION = { validationLevel: 'strict', validationAction: 'error' } as const;

/** Key order matters for an index key, so compare entries, not sorted objects. */
function sameKey(a: unknown, b: Readonly<Record<string, number>>): boolean {
  if (!a || typeof a !== 'object') return false;
  const left = Object.entries(a as Record<string, unknown>).map(([k, v]) => [k, Number(v)]);
  return isDeepStrictEqual(left, Object.entries(b));
}

function indexDiff(current: Document | undefined, wanted: MongoIndexSpec): 'missing' | 'ok' | 'ttl' | 'different' {
  if (!current) return 'missing';
  if (!sameKey(current.key, wanted.key) || Boolean(current.unique) !== Boolean(wanted.unique)) return 'different';
  const ttl: unknown = current.expireAfterSeconds;
  if ((ttl === undefined) !== (wanted.expireAfterSeconds === undefined)) return 'different';
  if (wanted.expireAfterSeconds !== undefined && Number(ttl) !== wanted.expireAfterSeconds) return 'ttl';
  return 'ok';
}

function hasValidator(options: Document | undefined): boolean {
  const validator: unknown = options?.validator;
  return typeof validator === 'object' && validator !== null && Object.keys(validator).length > 0;
}

function sameValidator(options: Document | undefined, spec: MongoCollectionSpec): boolean {
  return (
    isDeepStrictEqual(JSON.parse(JSON.stringify(options?.validator ?? null)), JSON.parse(JSON.stringify(spec.validator))) &&
    (options?.validationLevel ?? 'strict') === VALIDATION.validationLevel &&
    (options?.validationAction ?? 'error') === VALIDATION.validationAction
  );
}

function createSpec(index: MongoIndexSpec): { key: Record<string, 1 | -1>; name: string; unique?: boolean; expireAfterSeconds?: number } {
  return {
    key: { ...index.key },
    name: index.name,
    ...(index.unique ? { unique: true } : {}),
    ...(index.expireAfterSeconds !== undefined ? { expireAfterSeconds: index.expireAfterSeconds } : {}),
  };
}

/**
 * Creates the MongoDB collections with `$jsonSchema` validators (collMod when
 * they exist) and their indexes. Idempotent and safe to run from two processes
 * at once: a collection created concurrently is treated as existing, and
 * `createIndexes` of an identical index is a no-op on the server.
 */
@injectable()
export class MongoProvisioner implements StoreProvisioner {
  readonly store = 'mongo' as const;

  constructor(
    @inject(MongoConnection) private readonly mongo: MongoConnection,
    @inject(CONFIG) private readonly config: Config,
  ) {}

  #db(): Db {
    const db = this.mongo.connection.db;
    if (!db) throw new StoreUnavailableError('mongo', 'not connected', { url: this.mongo.redactedUrl });
    return db;
  }

  async #collections(db: Db): Promise<Map<string, Document>> {
    const list = await db.listCollections({}, { nameOnly: false }).toArray();
    return new Map(list.map((c) => [c.name, c as Document]));
  }

  /**
   * Brings collections, validators and indexes to the specs in
   * mongo-collection-specs.ts. Every step is reported, `changed: false` when
   * nothing had to be done, so a second run reports no changes.
   *
   * Indexes that exist but are not in the specs are left alone (reported by
   * nothing): dropping an index someone added for an incident is an operator's call.
   *
   * @throws StoreUnavailableError, PlatformError (mapped driver errors)
   */
  async provision(onStep?: (step: ProvisionStep) => void): Promise<ProvisionStep[]> {
    const steps: ProvisionStep[] = [];
    const record = (step: string, changed: boolean, detail?: string): void => {
      const s: ProvisionStep = { store: 'mongo', step, changed, ...(detail ? { detail } : {}) };
      steps.push(s);
      onStep?.(s);
    };
    try {
      const db = this.#db();
      const existing = await this.#collections(db);
      for (const spec of mongoCollectionSpecs(this.config)) {
        let info = existing.get(spec.name);
        if (!info) {
          try {
            await db.createCollection(spec.name, { validator: spec.validator, ...VALIDATION });
            record(`collection ${spec.name}`, true, 'created with validator');
          } catch (error) {
            if ((error as { code?: unknown }).code !== NAMESPACE_EXISTS) throw error;
            info = (await this.#collections(db)).get(spec.name);
          }
        }
        if (info) {
          record(`collection ${spec.name}`, false);
          if (sameValidator(info.options as Document | undefined, spec)) {
            record(`validator ${spec.name}`, false);
          } else {
            await db.command({ collMod: spec.name, validator: spec.validator, ...VALIDATION });
            record(`validator ${spec.name}`, true, hasValidator(info.options as Document | undefined) ? 'updated' : 'added');
          }
        }
        await this.#syncIndexes(db, spec, record);
      }
    } catch (error) {
      throw mapMongoError(error, this.mongo.redactedUrl);
    }
    return steps;
  }

  async #syncIndexes(db: Db, spec: MongoCollectionSpec, record: (step: string, changed: boolean, detail?: string) => void): Promise<void> {
    const collection = db.collection(spec.name);
    const current = new Map((await collection.listIndexes().toArray()).map((i) => [String(i.name), i as Document]));
    for (const index of spec.indexes) {
      const step = `index ${spec.name}.${index.name}`;
      const existing = current.get(index.name);
      switch (indexDiff(existing, index)) {
        case 'ok':
          record(step, false);
          break;
        case 'missing':
          await collection.createIndexes([createSpec(index)]);
          record(step, true, 'created');
          break;
        case 'ttl':
          // collMod changes the TTL in place; no rebuild of the index.
          await db.command({ collMod: spec.name, index: { name: index.name, expireAfterSeconds: index.expireAfterSeconds } });
          record(step, true, `expireAfterSeconds ${String(existing?.expireAfterSeconds)} → ${String(index.expireAfterSeconds)}`);
          break;
        case 'different':
          await collection.dropIndex(index.name);
          await collection.createIndexes([createSpec(index)]);
          record(step, true, 'recreated (key or options changed)');
          break;
      }
    }
  }

  /** Per collection: exists, validator state, missing and outdated indexes. @throws StoreUnavailableError */
  async status(): Promise<MongoCollectionStatus[]> {
    try {
      const db = this.#db();
      const existing = await this.#collections(db);
      const result: MongoCollectionStatus[] = [];
      for (const spec of mongoCollectionSpecs(this.config)) {
        const info = existing.get(spec.name);
        if (!info) {
          result.push({ name: spec.name, exists: false, validator: 'missing', missingIndexes: spec.indexes.map((i) => i.name), outdatedIndexes: [] });
          continue;
        }
        const options = info.options as Document | undefined;
        const current = new Map((await db.collection(spec.name).listIndexes().toArray()).map((i) => [String(i.name), i as Document]));
        const diffs = spec.indexes.map((i) => [i.name, indexDiff(current.get(i.name), i)] as const);
        result.push({
          name: spec.name,
          exists: true,
          validator: !hasValidator(options) ? 'missing' : sameValidator(options, spec) ? 'ok' : 'outdated',
          missingIndexes: diffs.filter(([, d]) => d === 'missing').map(([n]) => n),
          outdatedIndexes: diffs.filter(([, d]) => d === 'ttl' || d === 'different').map(([n]) => n),
        });
      }
      return result;
    } catch (error) {
      throw mapMongoError(error, this.mongo.redactedUrl);
    }
  }

  /** Human-readable list of what provision() would still do; empty when provisioned. */
  async pending(): Promise<string[]> {
    return (await this.status()).flatMap((c) => [
      ...(c.exists ? [] : [`collection ${c.name} missing`]),
      ...(c.exists && c.validator !== 'ok' ? [`validator ${c.name} ${c.validator}`] : []),
      ...c.missingIndexes.map((i) => `index ${c.name}.${i} missing`),
      ...c.outdatedIndexes.map((i) => `index ${c.name}.${i} outdated`),
    ]);
  }
}
