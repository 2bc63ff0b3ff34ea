import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../src/testing/free-port.js';
import { probeTcp } from '../../src/testing/probe-tcp.js';
import { sleep } from './sleep.js';

// A private redis-server on a chosen port, so a test can stop it and start a
// new one on the same port (FLUSHALL and shutdown would hurt the shared one).

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL: an abrupt crash, not a graceful shutdown). Idempotent. */
  stop(): Promise<void>;
  /** Starts a new, empty server on the same port after `stop()`. @throws Error when it does not answer within 5 s */
  start(): Promise<void>;
  /** SIGSTOP: the TCP port stays open, nothing answers (a frozen or partitioned server); `thaw()` resumes it with its data. */
  freeze(): void;
  thaw(): void;
}

async function redisAnswers(port: number): Promise<boolean> {
  return probeTcp('127.0.0.1', port, { send: 'PING\r\n', timeoutMs: 500 }).then(
    (r) => r.startsWith('+PONG'),
    () => false,
  );
}

interface RunningServer {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

/** @throws Error when redis-server does not answer on `port` within 5 s */
async function spawnRedis(port: number): Promise<RunningServer> {
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 100 && !(await redisAnswers(port)); i++) {
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  if (!(await redisAnswers(port))) {
    child.kill('SIGKILL');
    throw new Error(`redis-server did not start on port ${port}`);
  }
  return { child, exited };
}

/** Starts redis-server on `port` (default: a free one). @throws Error when it does not answer within 5 s */
export async function startPrivateRedis(port?: number): Promise<PrivateRedis> {
  const p = port ?? (await freePort());
  let server = await spawnRedis(p);
  return {
    port: p,
    url: `redis://127.0.0.1:${p}/0`,
    stop: async () => {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      await server.exited;
    },
    start: async () => {
      if (server.child.exitCode === null && server.child.signalCode === null) throw new Error(`redis-server on port ${p} is still running`);
      server = await spawnRedis(p);
    },
    freeze: () => server.child.kill('SIGSTOP'),
    thaw: () => server.child.kill('SIGCONT'),
  };
}
