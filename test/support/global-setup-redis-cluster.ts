import type { TestProject } from 'vitest/node';
import { startRedisCluster } from '../../src/testing/start-redis-cluster.js';
import { setupStack } from './global-setup.js';

/**
 * The `redis-cluster` project: the Redis suites and the session flows again, on
 * a real Redis Cluster (3 masters + 3 replicas from the machine's
 * `redis-server`, loopback ports 7000-7099). When the cluster cannot start the
 * project fails with one line saying why: it is never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
  try {
    cluster = await startRedisCluster();
  } catch (error) {
    throw new Error(`redis-cluster: the Redis Cluster could not start: ${(error as Error).message}`);
  }
  try {
    const teardown = await setupStack(project, { stores: ['postgres', 'redis'], containers: false, redisClusterNodes: cluster.clusterNodesEnv }, false);
    return async () => {
      await teardown();
      await cluster.stop();
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
