import { readFile, rename, writeFile } from 'node:fs/promises';
import { BSON, type Document } from 'bson';
import { CollectionStore } from './collection-store.js';
import type { DatabaseCatalog } from './database-catalog.js';
import type { IndexSpec } from './index-manager.js';
import { decodeDocument } from './wire-codec.js';

const FORMAT = 'platform-data-mongo-stand-in';
const VERSION = 1;
let saveCounter = 0;

/**
 * The stand-in's optional persistence: a file of concatenated BSON documents
 * (a header, then per collection its options and indexes, then its
 * documents). BSON rather than JSON keeps every value's type (Long, Decimal128,
 * Binary, dates) exactly; one document per stored document avoids the 16 MiB
 * limit on a single BSON document.
 */
export class SnapshotFile {
  /** Serialises the catalog now (synchronously, so the snapshot is consistent) and writes it atomically. */
  static async save(path: string, catalog: DatabaseCatalog): Promise<void> {
    const parts: Uint8Array[] = [BSON.serialize({ format: FORMAT, version: VERSION, savedAt: new Date() })];
    for (const store of catalog.all()) {
      parts.push(BSON.serialize({ kind: 'collection', db: store.database, name: store.name, options: store.options, indexes: store.indexes.list().slice(1) }));
      for (const doc of store.documents()) parts.push(BSON.serialize({ kind: 'document', doc }));
    }
    // A unique temp name per save: a periodic save may overlap the final one.
    const temp = `${path}.${process.pid}.${++saveCounter}.tmp`;
    await writeFile(temp, Buffer.concat(parts));
    await rename(temp, path);
  }

  /**
   * Loads a snapshot into an empty catalog. Returns false when the file does not exist.
   * @throws Error when the file is not a stand-in snapshot.
   */
  static async load(path: string, catalog: DatabaseCatalog): Promise<boolean> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    let offset = 0;
    let current: CollectionStore | undefined;
    let pendingIndexes: IndexSpec[] = [];
    const finish = (): void => {
      if (!current) return;
      for (const spec of pendingIndexes) current.indexes.build(spec, current.documents());
      catalog.install(current);
    };
    let first = true;
    while (offset < data.length) {
      const size = data.readInt32LE(offset);
      const entry: Document = decodeDocument(data.subarray(offset, offset + size));
      offset += size;
      if (first) {
        if (entry.format !== FORMAT || entry.version !== VERSION) throw new Error(`${path} is not a MongoDB stand-in snapshot (version ${VERSION})`);
        first = false;
        continue;
      }
      if (entry.kind === 'collection') {
        finish();
        current = new CollectionStore(String(entry.db), String(entry.name), entry.options as Document);
        pendingIndexes = entry.indexes as IndexSpec[];
      } else if (entry.kind === 'document' && current) {
        current.insert(entry.doc as Document, { bypassValidation: true });
      }
    }
    finish();
    return true;
  }
}
