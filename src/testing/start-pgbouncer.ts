import { spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { probeTcp } from './probe-tcp.js';
import { freePortIn } from './free-port.js';

export interface PgBouncerOptions {
  /** The PostgreSQL server behind it: `host:port`. */
  readonly server: string;
  /** Roles allowed through (default `postgres`, `platform_app`), with the password the server wants (default none: trust). */
  readonly users?: Readonly<Record<string, string>>;
  /** Ports to choose from (default `[6432, 6440]`). */
  readonly portRange?: readonly [number, number];
  /** Server connections per database/user pair (default 20). */
  readonly poolSize?: number;
  /** Path of the `pgbouncer` binary (default `/usr/sbin/pgbouncer`, Debian's). */
  readonly binary?: string;
}

export interface LocalPgBouncer extends AsyncDisposable {
  /** `127.0.0.1:<port>`: put it in DATABASE_APP_URL's host, with `PG_POOLER=transaction`. */
  readonly address: string;
  /** Points every database at another server (`host:port`) and reloads (SIGHUP): how a failover is followed. */
  retarget(server: string): Promise<void>;
  /** Stops PgBouncer and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts Debian's PgBouncer (1.18) in transaction pooling mode in front of
 * `server`, on loopback: the deployment docs/scaling.md describes. Every
 * database name is forwarded (`* = host=… port=…`), so per-test databases go
 * through it too. PgBouncer refuses to run as root, so as root it runs as the
 * `postgres` user. `statement_timeout` is in `ignore_startup_parameters`: a
 * client that sends it anyway (the owner pool) is not refused, and the
 * application role's pools do not send it with `PG_POOLER=transaction`.
 *
 * @throws Error when the binary is missing or it does not answer within 10 s
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<LocalPgBouncer> {
  const binary = options.binary ?? '/usr/sbin/pgbouncer';
  const port = await freePortIn(options.portRange ?? [6432, 6440]);
  const asRoot = userInfo().uid === 0;
  // As root the server runs as `postgres`, which cannot enter a private TMPDIR (e.g. under /root): /tmp then.
  const dir = await mkdtemp(join(asRoot ? '/tmp' : tmpdir(), 'pd-pgbouncer-'));
  const users = options.users ?? { postgres: '', platform_app: '' };
  const quote = (v: string) => `"${v.replace(/"/g, '""')}"`;
  const ini = (server: string) => {
    const [host, serverPort] = [server.slice(0, server.lastIndexOf(':')), server.slice(server.lastIndexOf(':') + 1)];
    return [
      '[databases]',
      `* = host=${host} port=${serverPort}`,
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      `unix_socket_dir =`,
      `auth_type = trust`,
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = transaction`,
      `default_pool_size = ${options.poolSize ?? 20}`,
      `max_client_conn = 1000`,
      `ignore_startup_parameters = statement_timeout,extra_float_digits`,
      `server_reset_query =`,
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n');
  };
  await writeFile(
    join(dir, 'userlist.txt'),
    Object.entries(users)
      .map(([u, p]) => `${quote(u)} ${quote(p)}`)
      .join('\n') + '\n',
  );
  await writeFile(join(dir, 'pgbouncer.ini'), ini(options.server));
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    const { execFileSync } = await import('node:child_process');
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) await chown(join(dir, f), uid, gid);
  }
  const child: ChildProcess = spawn(binary, [join(dir, 'pgbouncer.ini')], { stdio: 'ignore', uid, gid });
  child.once('error', () => undefined);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await Promise.race([exited, sleep(5_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    })());
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await probeTcp('127.0.0.1', port, { timeoutMs: 500 }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`start-pgbouncer: ${binary} did not listen on 127.0.0.1:${port} within 10 s (is pgbouncer installed?)`);
    }
    await sleep(50);
  }
  return {
    address: `127.0.0.1:${port}`,
    retarget: async (server) => {
      await writeFile(join(dir, 'pgbouncer.ini'), ini(server));
      child.kill('SIGHUP');
      // RELOAD is asynchronous; new server connections use the new target once it is read.
      await sleep(200);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
