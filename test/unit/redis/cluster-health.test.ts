import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ConfigError } from '../../../src/errors.js';
import { parseClusterNodes } from '../../../src/redis/redis-connection.js';

// The example reply of https://redis.io/docs/latest/commands/cluster-nodes/ (Redis 7 format, with hostnames),
// with one master marked failed as a failover leaves it.
const CLUSTER_NODES = `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002,hostname2 master,fail - 1426238316000 1426238316232 2 disconnected
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003,hostname3 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005,hostname5 master - 0 1426238316232 7 connected 5461-10922
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@31006,hostname6 slave 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 6 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001,hostname1 myself,master - 0 0 1 connected 0-5460
`;

describe('Redis Cluster roles for health', () => {
  it('reads each node’s role, state and slots from CLUSTER NODES', () => {
    expect(parseClusterNodes(CLUSTER_NODES)).toEqual([
      { address: '127.0.0.1:30001', role: 'master', status: 'up', detail: 'slots 0-5460' },
      { address: '127.0.0.1:30002', role: 'master', status: 'down', detail: 'slots none (fail)' },
      { address: '127.0.0.1:30003', role: 'master', status: 'up', detail: 'slots 10923-16383' },
      { address: '127.0.0.1:30004', role: 'replica', status: 'up', detail: 'replica of 127.0.0.1:30001' },
      { address: '127.0.0.1:30005', role: 'master', status: 'up', detail: 'slots 5461-10922' },
      { address: '127.0.0.1:30006', role: 'replica', status: 'up', detail: 'replica of 127.0.0.1:30003' },
    ]);
  });
});

describe('REDIS_CLUSTER_NODES', () => {
  const issues = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
  };

  it('parses host:port lists (names, IPv4, bracketed IPv6)', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: 'redis-a:7000, 10.0.0.2:7001,[::1]:7002' });
    expect(config.redis.clusterNodes).toEqual([
      { host: 'redis-a', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(loadConfig({}).redis.clusterNodes).toBeUndefined();
  });

  it('names every bad entry, a repeated node and a database other than 0', () => {
    expect(issues({ REDIS_CLUSTER_NODES: 'a:7000,b,c:70000,a:7000' })).toEqual([
      'REDIS_CLUSTER_NODES: entry 2: expected "host:port" with a port from 1 to 65535',
      'REDIS_CLUSTER_NODES: entry 3: expected "host:port" with a port from 1 to 65535',
      'REDIS_CLUSTER_NODES: entry 4: a:7000 appears twice',
    ]);
    expect(issues({ REDIS_CLUSTER_NODES: ',' })).toEqual(['REDIS_CLUSTER_NODES: expected "host:port,host:port…"']);
    // Redis Cluster specification: "Redis Cluster does not support multiple databases … only database 0; SELECT is not allowed".
    expect(issues({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'redis://a:7000/3' })).toEqual([
      'REDIS_URL: must name database 0 (or none) when REDIS_CLUSTER_NODES is set: a Redis Cluster has only database 0',
    ]);
  });
});
