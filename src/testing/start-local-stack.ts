import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { StoreName } from '../errors.js';
import { redactUrl } from '../redact-url.js';
import { freePort } from './free-port.js';
import { startEmbeddedPostgres } from './start-embedded-postgres.js';
import { importOptionalPeer } from './import-optional-peer.js';
import { probeTcp } from './probe-tcp.js';

/** Where a store of the local stack came from. */
export type StackBackend = 'env' | 'testcontainers' | 'local-server' | 'embedded-postgres' | 'redis-server' | 'stand-in' | 'unavailable';

export interface StackStore {
  readonly backend: StackBackend;
  /** Connection URL (with credentials; print it through `redactUrl`). */
  readonly url: string | undefined;
  /** One line: why this backend, or why none. */
  readonly detail: string;
}

export interface LocalStack extends AsyncDisposable {
  readonly urls: Readonly<Record<StoreName, string | undefined>>;
  readonly backends: Readonly<Record<StoreName, StackBackend>>;
  readonly stores: Readonly<Record<StoreName, StackStore>>;
  /** Environment variables (DATABASE_URL, MONGODB_URI, QDRANT_URL, REDIS_URL) pointing at the stack. */
  env(): Record<string, string>;
  /** Stops everything the stack started (not servers it merely found). Idempotent. */
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Stores to provide (default: all four). */
  readonly stores?: readonly StoreName[];
  /** Environment to read URLs from (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Refuse the MongoDB/Qdrant stand-ins (default: PLATFORM_TEST_REAL_ONLY=1). */
  readonly realOnly?: boolean;
  /** Try testcontainers when a container runtime answers (default: true unless PLATFORM_TEST_CONTAINERS=0). */
  readonly containers?: boolean;
  /** Use the machine's own PostgreSQL/Redis when they answer (default: true). */
  readonly localServers?: boolean;
  /** Directory for stand-in snapshots (so data survives a restart); default: none (memory only). */
  readonly snapshotDir?: string;
  /**
   * The MongoDB stand-in runs as a one-member replica set of this name, with
   * transactions and change streams, like docker-compose's MongoDB (`rs0`);
   * `false` starts it as a standalone server instead.
   * @default 'rs0'
   */
  readonly mongoReplicaSet?: string | false;
  /** Receives one line per store (default: stderr). Pass `() => {}` to silence. */
  readonly log?: (line: string) => void;
}

type Started = StackStore & { stop?: () => Promise<void> };

/**
 * Is a container runtime reachable? Cheap file/env checks first, so machines
 * without one answer in milliseconds. Answers undefined when it is, else why not.
 */
async function containerRuntimeProblem(env: Readonly<Record<string, string | undefined>>): Promise<string | undefined> {
  const hints =
    [env.DOCKER_HOST, env.TESTCONTAINERS_HOST_OVERRIDE].some(Boolean) ||
    [
      '/var/run/docker.sock',
      join(homedir(), '.docker/run/docker.sock'),
      join(homedir(), '.testcontainers.properties'),
      `/run/user/${userInfo().uid}/podman/podman.sock`,
    ].some((p) => existsSync(p));
  if (!hints) return 'no container runtime';
  try {
    const { getContainerRuntimeClient } = await importOptionalPeer('testcontainers', () => import('testcontainers'));
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('container runtime probe timed out')), 5_000).unref()),
    ]);
    return undefined;
  } catch (error) {
    return `container runtime unusable: ${(error as Error).message.split('\n')[0]}`;
  }
}

async function postgresAnswers(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500 });
  try {
    await client.connect();
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return result.rows[0]?.server_version;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisAnswers(host: string, port: number): Promise<boolean> {
  try {
    return (await probeTcp(host, port, { send: 'PING\r\n', timeoutMs: 1_000 })).startsWith('+PONG');
  } catch {
    return false;
  }
}

async function which(binary: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/usr/local/bin'])) {
    const candidate = join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function startEmbedded(): Promise<Started> {
  const server = await startEmbeddedPostgres();
  return {
    backend: 'embedded-postgres',
    url: server.url,
    detail: `embedded PostgreSQL ${server.version} on port ${server.port}`,
    stop: () => server.stop(),
  };
}

async function startRedisServer(binary: string): Promise<Started> {
  const port = await freePort();
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 5_000;
  while (!(await redisAnswers('127.0.0.1', port))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('redis-server did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    backend: 'redis-server',
    url: `redis://127.0.0.1:${port}/0`,
    detail: `private redis-server on port ${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startContainer(store: StoreName): Promise<Started> {
  switch (store) {
    case 'postgres': {
      const { PostgreSqlContainer } = await importOptionalPeer('@testcontainers/postgresql', () => import('@testcontainers/postgresql'));
      const c = await new PostgreSqlContainer('postgres:16-alpine').start();
      return { backend: 'testcontainers', url: c.getConnectionUri(), detail: 'testcontainers postgres:16-alpine', stop: async () => void (await c.stop()) };
    }
    case 'mongo': {
      const { MongoDBContainer } = await importOptionalPeer('@testcontainers/mongodb', () => import('@testcontainers/mongodb'));
      const c = await new MongoDBContainer('mongo:7').start();
      return {
        backend: 'testcontainers',
        url: `${c.getConnectionString()}?directConnection=true`,
        detail: 'testcontainers mongo:7 (replica set)',
        stop: async () => void (await c.stop()),
      };
    }
    case 'qdrant': {
      const { QdrantContainer } = await importOptionalPeer('@testcontainers/qdrant', () => import('@testcontainers/qdrant'));
      const c = await new QdrantContainer('qdrant/qdrant:v1.15.0').start();
      return { backend: 'testcontainers', url: `http://${c.getRestHostAddress()}`, detail: 'testcontainers qdrant', stop: async () => void (await c.stop()) };
    }
    case 'redis': {
      const { RedisContainer } = await importOptionalPeer('@testcontainers/redis', () => import('@testcontainers/redis'));
      const c = await new RedisContainer('redis:7-alpine').start();
      return { backend: 'testcontainers', url: c.getConnectionUrl(), detail: 'testcontainers redis:7-alpine', stop: async () => void (await c.stop()) };
    }
  }
}

async function startStandIn(store: 'mongo' | 'qdrant', snapshotDir: string | undefined, replicaSet: string | false): Promise<Started> {
  if (store === 'mongo') {
    const { MongoStandIn } = await import('./mongo-stand-in.js');
    const server = await MongoStandIn.start({
      ...(snapshotDir ? { snapshotPath: join(snapshotDir, 'mongo.snapshot') } : {}),
      ...(replicaSet === false ? {} : { replicaSet }),
    });
    const mode = replicaSet === false ? 'standalone' : `replica set ${replicaSet}`;
    return { backend: 'stand-in', url: server.uri, detail: `MongoDB wire stand-in (in memory, ${mode})`, stop: () => server.stop() };
  }
  const { QdrantStandIn } = await import('./qdrant-stand-in.js');
  const server = await QdrantStandIn.start(snapshotDir ? { snapshotPath: join(snapshotDir, 'qdrant.snapshot.json') } : {});
  return { backend: 'stand-in', url: server.url, detail: 'Qdrant REST stand-in (in memory)', stop: () => server.stop() };
}

/** The variable that names each store's URL (README, Configuration). */
export const STORE_URL_VARIABLES: Readonly<Record<StoreName, string>> = {
  postgres: 'DATABASE_URL',
  mongo: 'MONGODB_URI',
  qdrant: 'QDRANT_URL',
  redis: 'REDIS_URL',
};

/**
 * Starts (or finds) the four stores. Per store, in order: the URL from the
 * environment → testcontainers (only when a container runtime answers) → a
 * local server (the machine's PostgreSQL/Redis; else embedded-postgres or a
 * private redis-server) → for MongoDB and Qdrant, the wire-compatible stand-ins
 * (refused with `realOnly` / PLATFORM_TEST_REAL_ONLY=1). Prints one line per
 * store naming its backend.
 *
 * @example
 * await using stack = await startLocalStack();
 * const config = loadConfig({ ...process.env, ...stack.env() });
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const wanted = options.stores ?? (['postgres', 'mongo', 'qdrant', 'redis'] as const);
  const realOnly = options.realOnly ?? env.PLATFORM_TEST_REAL_ONLY === '1';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const wantContainers = (options.containers ?? env.PLATFORM_TEST_CONTAINERS !== '0') && wanted.some((s) => !env[STORE_URL_VARIABLES[s]]);
  const containerProblem = wantContainers ? await containerRuntimeProblem(env) : 'containers turned off (PLATFORM_TEST_CONTAINERS=0)';
  const useContainers = containerProblem === undefined;
  const useLocal = options.localServers ?? env.PLATFORM_TEST_LOCAL_SERVERS !== '0';

  const resolveStore = async (store: StoreName): Promise<Started> => {
    const fromEnv = env[STORE_URL_VARIABLES[store]];
    if (fromEnv) return { backend: 'env', url: fromEnv, detail: `${STORE_URL_VARIABLES[store]} from the environment` };
    const reasons: string[] = [];
    if (useContainers) {
      try {
        return await startContainer(store);
      } catch (error) {
        reasons.push(`testcontainers failed: ${(error as Error).message.split('\n')[0]}`);
      }
    } else {
      reasons.push(containerProblem ?? 'no container runtime');
    }
    if (store === 'postgres') {
      const machineUrl = env.PLATFORM_TEST_LOCAL_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
      const version = useLocal ? await postgresAnswers(machineUrl) : undefined;
      if (version) return { backend: 'local-server', url: machineUrl, detail: `machine's PostgreSQL ${version}` };
      reasons.push('no local PostgreSQL');
      try {
        return await startEmbedded();
      } catch (error) {
        reasons.push(`embedded-postgres failed: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    if (store === 'redis') {
      if (useLocal && (await redisAnswers('127.0.0.1', 6379))) return { backend: 'local-server', url: 'redis://127.0.0.1:6379/0', detail: "machine's Redis" };
      reasons.push('no local Redis');
      const binary = await which('redis-server');
      if (binary) {
        try {
          return await startRedisServer(binary);
        } catch (error) {
          reasons.push((error as Error).message);
        }
      } else {
        reasons.push('no redis-server binary');
      }
    }
    if (store === 'mongo' || store === 'qdrant') {
      if (realOnly) return { backend: 'unavailable', url: undefined, detail: `PLATFORM_TEST_REAL_ONLY=1 refuses the stand-in (${reasons.join('; ')})` };
      try {
        return await startStandIn(store, options.snapshotDir, options.mongoReplicaSet ?? 'rs0');
      } catch (error) {
        reasons.push(`stand-in failed: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    return { backend: 'unavailable', url: undefined, detail: reasons.join('; ') };
  };

  const started: Partial<Record<StoreName, Started>> = {};
  await Promise.all(
    wanted.map(async (store) => {
      started[store] = await resolveStore(store);
    }),
  );
  const all = ['postgres', 'mongo', 'qdrant', 'redis'] as const;
  const stores = Object.fromEntries(all.map((s) => [s, started[s] ?? { backend: 'unavailable', url: undefined, detail: 'not requested' }])) as Record<
    StoreName,
    Started
  >;
  for (const s of wanted) {
    const entry = stores[s];
    log(`[stack] ${s.padEnd(8)} ${entry.backend.padEnd(17)} ${entry.url ? redactUrl(entry.url) : '-'}  (${entry.detail})`);
  }
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= Promise.allSettled(all.map((s) => stores[s].stop?.())).then(() => undefined));
  if (realOnly) {
    const refused = wanted.filter((s) => stores[s].backend === 'unavailable');
    if (refused.length > 0) {
      await stop();
      throw new Error(`PLATFORM_TEST_REAL_ONLY=1: no real server for ${refused.join(', ')}`);
    }
  }
  return {
    urls: Object.fromEntries(all.map((s) => [s, stores[s].url])) as Record<StoreName, string | undefined>,
    backends: Object.fromEntries(all.map((s) => [s, stores[s].backend])) as Record<StoreName, StackBackend>,
    stores: Object.fromEntries(all.map((s) => [s, { backend: stores[s].backend, url: stores[s].url, detail: stores[s].detail }])) as Record<
      StoreName,
      StackStore
    >,
    env: () => Object.fromEntries(all.filter((s) => stores[s].url).map((s) => [STORE_URL_VARIABLES[s], stores[s].url as string])),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
