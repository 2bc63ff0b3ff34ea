import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePortIn } from './free-port.js';

const run = promisify(execFile);

export interface PostgresPairOptions {
  /** Folder of `initdb`, `pg_ctl`, `pg_basebackup` (default `/usr/lib/postgresql/15/bin`, Debian's PostgreSQL 15). */
  readonly binDir?: string;
  /** Ports to choose from (default `[5500, 5599]`). */
  readonly portRange?: readonly [number, number];
}

export interface LocalPostgresPair extends AsyncDisposable {
  /** Superuser URLs (`postgres`, trust on loopback) of the primary and the streaming standby. */
  readonly primaryUrl: string;
  readonly standbyUrl: string;
  readonly primaryAddress: string;
  readonly standbyAddress: string;
  /** Stops the primary at once (`pg_ctl stop -m immediate`: no shutdown checkpoint, as a crash). */
  crashPrimary(): Promise<void>;
  /** Promotes the standby (`pg_ctl promote -w`): it leaves recovery and accepts writes. */
  promoteStandby(): Promise<void>;
  /** Stops both servers and removes their data directories. Idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A PostgreSQL primary and a streaming standby from the machine's PostgreSQL
 * binaries, on loopback: `initdb`, `pg_basebackup -R` (writes
 * `standby.signal` and `primary_conninfo`), both started with `pg_ctl`. As
 * root they run as the `postgres` user (PostgreSQL refuses root), with data
 * directories owned by it. For the replica/failover tests and benchmarks.
 *
 * @throws Error naming the step that failed; what was started is stopped first
 */
export async function startPostgresPair(options: PostgresPairOptions = {}): Promise<LocalPostgresPair> {
  const bin = options.binDir ?? '/usr/lib/postgresql/15/bin';
  const range = options.portRange ?? [5500, 5599];
  const primaryPort = await freePortIn(range);
  const standbyPort = await freePortIn([primaryPort + 1, range[1]]);
  const asRoot = userInfo().uid === 0;
  // As root the servers run as `postgres`, which cannot enter a private TMPDIR (e.g. under /root): /tmp then.
  const root = await mkdtemp(join(asRoot ? '/tmp' : tmpdir(), 'pd-pg-pair-'));
  const primaryDir = join(root, 'primary');
  const standbyDir = join(root, 'standby');
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    await chown(root, uid, gid);
  }
  const as = (file: string, args: string[], timeout = 60_000) => run(join(bin, file), args, { uid, gid, timeout, cwd: root });
  const started = new Set<string>();
  const ctl = async (dir: string, port: number) => {
    await as('pg_ctl', ['-D', dir, '-l', join(root, `${port}.log`), '-o', `-p ${port} -k ${root} -c listen_addresses=127.0.0.1`, '-w', '-t', '60', 'start']);
    started.add(dir);
  };
  const stopServer = async (dir: string, mode: 'fast' | 'immediate') => {
    if (!started.delete(dir)) return;
    await as('pg_ctl', ['-D', dir, '-m', mode, '-w', '-t', '30', 'stop']).catch(() => undefined);
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all([stopServer(standbyDir, 'immediate'), stopServer(primaryDir, 'immediate')]);
      await rm(root, { recursive: true, force: true });
    })());

  try {
    await as('initdb', ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
    await ctl(primaryDir, primaryPort);
    await as('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standbyDir, '-R', '-X', 'stream', '-c', 'fast']);
    await ctl(standbyDir, standbyPort);
    // Streaming, not just started: the primary lists the standby's WAL sender as streaming.
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${primaryPort}/postgres` });
    await client.connect();
    try {
      const deadline = Date.now() + 30_000;
      while ((await client.query(`SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'`)).rowCount === 0) {
        if (Date.now() > deadline) throw new Error('start-postgres-pair: the standby did not start streaming within 30 s');
        await sleep(100);
      }
    } finally {
      await client.end();
    }
  } catch (error) {
    await stop();
    throw new Error(`start-postgres-pair: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }

  return {
    primaryUrl: `postgres://postgres@127.0.0.1:${primaryPort}/postgres`,
    standbyUrl: `postgres://postgres@127.0.0.1:${standbyPort}/postgres`,
    primaryAddress: `127.0.0.1:${primaryPort}`,
    standbyAddress: `127.0.0.1:${standbyPort}`,
    crashPrimary: () => stopServer(primaryDir, 'immediate'),
    promoteStandby: async () => {
      await as('pg_ctl', ['-D', standbyDir, '-w', '-t', '60', 'promote']);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
