import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './redis-connection.js';

/**
 * SCAN with MATCH over every key the client can see: on one node, that node;
 * on a Redis Cluster, each master in turn (SCAN is per node — a cluster client
 * would send it to one arbitrary node). Yields batches; never KEYS.
 * @throws the driver's error (callers map it with mapRedisError)
 */
export async function* scanKeys(client: RedisClient, match: string, count = 500): AsyncGenerator<string[]> {
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', count);
      if (batch.length > 0) yield batch;
      cursor = next;
    } while (cursor !== '0');
  }
}

/**
 * UNLINKs `keys`: one command on one node; on a cluster one command per key
 * (keys of different slots cannot share a command: CROSSSLOT).
 * @returns how many existed
 */
export async function unlinkKeys(client: RedisClient, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  if (!(client instanceof Cluster)) return client.unlink(...keys);
  const counts = await Promise.all(keys.map((k) => client.unlink(k)));
  return counts.reduce((a, b) => a + b, 0);
}
