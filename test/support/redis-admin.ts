import type { RedisClient } from '../../src/redis/redis-connection.js';
import { scanKeys, unlinkKeys } from '../../src/redis/scan-keys.js';

/** Every key matching `match`, on one node or on every master of a cluster (KEYS reaches one node only on a cluster). */
export async function listKeys(client: RedisClient, match: string): Promise<string[]> {
  const found: string[] = [];
  for await (const batch of scanKeys(client, match)) found.push(...batch);
  return found.sort();
}

/** Deletes every key matching `match`; returns how many. */
export async function deleteKeys(client: RedisClient, match: string): Promise<number> {
  return unlinkKeys(client, await listKeys(client, match));
}
