import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { portIsFree } from './free-port.js';
import { probeTcp } from './probe-tcp.js';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** Masters (default 3, the minimum Redis Cluster accepts). */
  readonly masters?: number;
  /** Replicas per master (default 1: 3 masters + 3 replicas). */
  readonly replicasPerMaster?: number;
  /**
   * Ports to choose from, `[first, last]` (default `[7000, 7099]`). A node needs its port and
   * its cluster-bus port (port + 10000) free; taken ones are skipped.
   */
  readonly portRange?: readonly [number, number];
  /** `cluster-node-timeout` in ms (default 2000): how long a silent master stays a master before its replica is promoted. */
  readonly nodeTimeoutMs?: number;
  /** Path of `redis-server` / `redis-cli` (default: found on PATH). */
  readonly redisServer?: string;
  readonly redisCli?: string;
  /** Bound on the whole start (default 30 s). */
  readonly timeoutMs?: number;
}

export interface LocalRedisCluster extends AsyncDisposable {
  /** `127.0.0.1:<port>` of every node, masters first as created. */
  readonly nodes: readonly string[];
  /** The value for `REDIS_CLUSTER_NODES`. */
  readonly clusterNodesEnv: string;
  /** Kills one node (SIGKILL: no goodbye to the cluster, as a crashed machine). */
  killNode(address: string): Promise<void>;
  /** The current masters according to a live node's `CLUSTER NODES`. */
  masters(): Promise<string[]>;
  /** Resolves once every live node reports `cluster_state:ok` and agrees on `masters` masters; bounded by `timeoutMs`. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

async function choosePorts(count: number, [first, last]: readonly [number, number]): Promise<number[]> {
  const ports: number[] = [];
  for (let p = first; p <= last && ports.length < count; p++) {
    if ((await portIsFree(p)) && (await portIsFree(p + 10_000))) ports.push(p);
  }
  if (ports.length < count)
    throw new Error(`start-redis-cluster: ${count} free ports (and their bus ports +10000) needed in ${first}-${last}, found ${ports.length}`);
  return ports;
}

async function answers(port: number): Promise<boolean> {
  try {
    return (await probeTcp('127.0.0.1', port, { send: 'PING\r\n', timeoutMs: 1_000 })).startsWith('+PONG');
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a real Redis Cluster on loopback from the machine's `redis-server`
 * (3 masters + 3 replicas by default), as the Redis manual's "Create a Redis
 * Cluster" section does it: every node with `cluster-enabled yes`, then
 * `redis-cli --cluster create … --cluster-replicas 1`. No persistence; each
 * node is a child process of this one. For the cluster test project and the
 * benchmarks; an application's tests may use it the same way.
 *
 * @example
 * await using cluster = await startRedisCluster();
 * const config = loadConfig({ REDIS_CLUSTER_NODES: cluster.clusterNodesEnv });
 * @throws Error naming the step that failed (no binary, no free ports, cluster not ok in time); started nodes are killed first
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<LocalRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const server = options.redisServer ?? 'redis-server';
  const cli = options.redisCli ?? 'redis-cli';
  const ports = await choosePorts(masters * (1 + replicas), options.portRange ?? [7000, 7099]);
  const root = await mkdtemp(join(tmpdir(), 'pd-redis-cluster-'));
  const children = new Map<number, ChildProcess>();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(
        [...children.values()].map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await exited;
        }),
      );
      children.clear();
      await rm(root, { recursive: true, force: true });
    })());

  const cliOut = async (port: number, ...args: string[]) => (await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5_000 })).stdout;
  const live = () => [...children.entries()].filter(([, c]) => c.exitCode === null && c.signalCode === null).map(([p]) => p);

  const masterAddresses = async (): Promise<string[]> => {
    for (const port of live()) {
      try {
        const text = await cliOut(port, 'CLUSTER', 'NODES');
        return text
          .split('\n')
          .map((l) => l.split(' '))
          .filter((f) => (f[2] ?? '').split(',').includes('master') && !(f[2] ?? '').includes('fail'))
          .map((f) => (f[1] ?? '').split('@')[0] ?? '')
          .sort();
      } catch {
        // try the next live node
      }
    }
    throw new Error('start-redis-cluster: no live node answers CLUSTER NODES');
  };

  const waitHealthy = async (bound = timeoutMs) => {
    const deadline = Date.now() + bound;
    let last = '';
    for (;;) {
      try {
        const states = await Promise.all(live().map((p) => cliOut(p, 'CLUSTER', 'INFO')));
        const ok = states.every((s) => /cluster_state:ok/.test(s) && new RegExp(`cluster_size:${masters}\\b`).test(s));
        // A replica that has not synced cannot take over: wait for every link (INFO replication).
        const links = await Promise.all(live().map((p) => cliOut(p, 'INFO', 'replication')));
        const synced = links.every((r) => !/role:slave/.test(r) || /master_link_status:up/.test(r));
        if (ok && synced && (await masterAddresses()).length === masters) return;
        last = states.map((s) => /cluster_state:(\w+)/.exec(s)?.[1] ?? '?').join(',');
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`start-redis-cluster: cluster not ok within ${bound} ms (last: ${last})`);
      await sleep(100);
    }
  };

  try {
    for (const port of ports) {
      const dir = join(root, String(port));
      await mkdir(dir);
      const child = spawn(
        server,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, 'nodes.conf'),
          '--cluster-node-timeout',
          String(options.nodeTimeoutMs ?? 2_000),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          // BullMQ's requirement (docs/operations.md): queue keys must never be evicted.
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      );
      child.once('error', () => undefined);
      children.set(port, child);
    }
    const deadline = Date.now() + timeoutMs;
    for (const port of ports) {
      while (!(await answers(port))) {
        const child = children.get(port);
        if (Date.now() > deadline || child?.exitCode !== null)
          throw new Error(`start-redis-cluster: redis-server on port ${port} did not start (is ${server} installed?)`);
        await sleep(50);
      }
    }
    await run(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
      timeout: timeoutMs,
    });
    await waitHealthy();
  } catch (error) {
    await stop();
    throw error;
  }

  const nodes = ports.map((p) => `127.0.0.1:${p}`);
  return {
    nodes,
    clusterNodesEnv: nodes.join(','),
    masters: masterAddresses,
    waitHealthy,
    killNode: async (address) => {
      const port = Number(address.split(':').at(-1));
      const child = children.get(port);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
