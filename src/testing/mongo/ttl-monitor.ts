import { BsonValues, MISSING } from './bson-values.js';
import type { DatabaseCatalog } from './database-catalog.js';
import { Deferral } from './deferral.js';

/**
 * mongod's TTL monitor: deletes documents whose TTL-indexed date (the
 * earliest one, for an array) plus `expireAfterSeconds` is in the past.
 * mongod runs it every 60 s (`ttlMonitorSleepSecs`); the stand-in's interval
 * is configurable and defaults to 1 s so tests need not wait a minute.
 */
export class TtlMonitor {
  /** One pass over every TTL index; returns the number of documents deleted. */
  static sweep(catalog: DatabaseCatalog, now: number = Date.now()): number {
    let deleted = 0;
    for (const store of catalog.all()) {
      const ttls = store.indexes.ttlIndexes();
      if (ttls.length === 0) continue;
      for (const doc of store.documents()) {
        const expired = ttls.some(({ field, seconds, partial }) => {
          if (partial && !partial(doc)) return false;
          const value = BsonValues.getPath(doc, field);
          if (value === MISSING) return false;
          const dates = (Array.isArray(value) ? value : [value]).filter((v): v is Date => v instanceof Date);
          if (dates.length === 0) return false;
          const earliest = Math.min(...dates.map((d) => d.getTime()));
          return earliest + seconds * 1000 <= now;
        });
        if (!expired) continue;
        try {
          if (store.delete(doc)) deleted++;
        } catch (error) {
          // A transaction holds the document: mongod's TTL pass skips it and tries again next time.
          if (!(error instanceof Deferral)) throw error;
        }
      }
    }
    return deleted;
  }
}
