import { BSON, Long, type Document } from 'bson';
import { CommandError } from './command-error.js';

/** mongod's limit for one reply's batch (16 MiB), minus room for the envelope. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024 - 16 * 1024;
/** mongod's default first batch for find/aggregate. */
export const DEFAULT_FIRST_BATCH = 101;
/** mongod's cursorTimeoutMillis default (10 minutes). */
export const CURSOR_TIMEOUT_MS = 10 * 60 * 1000;

interface OpenCursor {
  readonly namespace: string;
  readonly docs: readonly Document[];
  position: number;
  lastUsed: number;
}

export interface Batch {
  readonly batch: Document[];
  /** 0 when exhausted. */
  readonly id: Long;
}

/**
 * Open cursors. A cursor's result set is materialised when it is opened
 * (a consistent snapshot: later writes are not seen), and handed out in
 * batches bounded by count and by mongod's 16 MiB reply limit.
 */
export class CursorRegistry {
  readonly #cursors = new Map<string, OpenCursor>();

  /**
   * Returns the first batch; keeps the rest under a new cursor id unless all
   * fits or `singleBatch` is set.
   */
  open(namespace: string, docs: readonly Document[], options: { batchSize?: number | undefined; singleBatch?: boolean | undefined }): Batch {
    const cursor: OpenCursor = { namespace, docs, position: 0, lastUsed: Date.now() };
    const batch = take(cursor, options.batchSize ?? DEFAULT_FIRST_BATCH);
    if (options.singleBatch || cursor.position >= docs.length) return { batch, id: Long.ZERO };
    const id = newCursorId();
    this.#cursors.set(id.toString(), cursor);
    return { batch, id };
  }

  /** @throws CommandError 43 for an unknown or killed cursor. */
  getMore(id: Long, namespace: string, batchSize: number | undefined): Batch {
    const key = id.toString();
    const cursor = this.#cursors.get(key);
    if (!cursor) throw new CommandError('CursorNotFound', `cursor id ${key} not found`);
    if (cursor.namespace !== namespace) {
      throw new CommandError('BadValue', `Requested getMore on namespace '${namespace}', but cursor belongs to a different namespace ${cursor.namespace}`);
    }
    cursor.lastUsed = Date.now();
    const batch = take(cursor, batchSize && batchSize > 0 ? batchSize : Number.POSITIVE_INFINITY);
    if (cursor.position >= cursor.docs.length) {
      this.#cursors.delete(key);
      return { batch, id: Long.ZERO };
    }
    return { batch, id };
  }

  kill(ids: readonly Long[]): { killed: Long[]; notFound: Long[] } {
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const id of ids) (this.#cursors.delete(id.toString()) ? killed : notFound).push(id);
    return { killed, notFound };
  }

  /** Kills cursors of a namespace, or of every collection in a database when `collection` is omitted. */
  killNamespace(database: string, collection?: string): void {
    for (const [key, cursor] of this.#cursors) {
      if (collection === undefined ? cursor.namespace.startsWith(`${database}.`) : cursor.namespace === `${database}.${collection}`) {
        this.#cursors.delete(key);
      }
    }
  }

  /** Drops cursors idle for longer than mongod's cursor timeout. */
  sweepIdle(now: number): void {
    for (const [key, cursor] of this.#cursors) if (now - cursor.lastUsed > CURSOR_TIMEOUT_MS) this.#cursors.delete(key);
  }

  get size(): number {
    return this.#cursors.size;
  }

  clear(): void {
    this.#cursors.clear();
  }
}

function take(cursor: OpenCursor, limit: number): Document[] {
  const batch: Document[] = [];
  let bytes = 0;
  while (batch.length < limit && cursor.position < cursor.docs.length) {
    const doc = cursor.docs[cursor.position]!;
    const size = BSON.calculateObjectSize(doc);
    if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
    batch.push(doc);
    bytes += size;
    cursor.position++;
  }
  return batch;
}

function newCursorId(): Long {
  // Positive 63-bit ids, like mongod's.
  const high = Math.floor(Math.random() * 0x7fffffff) + 1;
  const low = Math.floor(Math.random() * 0xffffffff) | 0;
  return Long.fromBits(low, high);
}
