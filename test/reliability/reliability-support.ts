import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PlatformError } from '../../src/errors.js';

/** Settles `work` and classifies: the value, or the error (which must be a PlatformError, else the test fails). */
export async function outcome<T>(work: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: PlatformError }> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (error instanceof PlatformError) return { ok: false, error };
    throw error;
  }
}

/** A deterministic "random" sequence in [0, 1) (a linear congruential generator): kill points a fixed seed reproduces. */
export function seededRandom(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------------------
// Figures: each file records what it measured under test-results/reliability/.
// Tests never write tracked files: `npm run docs:figures` copies the figures
// into docs/reliability.md when someone chooses to (scripts/docs-figures.ts).

export interface Figure {
  /** What was checked, e.g. "100 concurrent refreshes of one token". */
  readonly check: string;
  /** What was measured, e.g. "1 rotation, 99 replays". */
  readonly measured: string;
}

const ROOT = new URL('../../', import.meta.url);
const RESULTS_DIR = fileURLToPath(new URL('test-results/reliability/', ROOT));
export type SuiteName = 'concurrency' | 'faults' | 'hostile-input' | 'secrets-at-rest' | 'timing' | 'soak';

/** Collects a file's figures; `flush()` (in afterAll) writes its JSON under test-results/reliability/. */
export class Figures {
  readonly #suite: SuiteName;
  readonly #figures = new Map<string, Figure>();
  constructor(suite: SuiteName) {
    this.#suite = suite;
  }

  /** Records (or replaces) one figure; `key` orders the figures of the suite. */
  set(key: string, figure: Figure): void {
    this.#figures.set(key, figure);
  }

  async flush(): Promise<void> {
    if (this.#figures.size === 0) return;
    await mkdir(RESULTS_DIR, { recursive: true });
    const sorted = Object.fromEntries([...this.#figures.entries()].sort(([a], [b]) => a.localeCompare(b)));
    // Merge with the figures of earlier runs of this file, so running one test (-t) keeps the others' figures.
    const path = `${RESULTS_DIR}${this.#suite}.json`;
    const previous = await readFile(path, 'utf8').then(
      (text) => JSON.parse(text) as Record<string, Figure>,
      () => ({}),
    );
    const merged = Object.fromEntries(Object.entries({ ...previous, ...sorted }).sort(([a], [b]) => a.localeCompare(b)));
    await writeFile(`${path}.tmp`, `${JSON.stringify(merged, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  }
}

// ---------------------------------------------------------------------------
// A private PostgreSQL 15 server (Debian's binaries, run as the `postgres` user) that
// survives a restart with its data: for fault tests that restart, freeze or crash it.

const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  readonly port: number;
  /** Owner URL (trust authentication on 127.0.0.1). */
  readonly url: string;
  /** Immediate shutdown (like a crash: no checkpoint), then a start on the same port and data. */
  restart(): Promise<void>;
  /** SIGSTOP the postmaster and every backend: TCP stays open, nothing answers. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Stops the server and removes its data directory. Idempotent. */
  stop(): Promise<void>;
}

function asPostgres(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args[0]} exited ${code}: ${stderr.trim()}`))));
  });
}

/** Starts PostgreSQL 15 on `port` (task-assigned private ports keep parallel runs apart). Needs root (runuser) and Debian's postgresql-15. */
export async function startPrivatePostgres(port: number): Promise<PrivatePostgres> {
  const dir = `/tmp/pd-private-pg-${port}-${randomUUID().slice(0, 8)}`;
  await mkdir(dir, { recursive: true });
  execFileSync('chown', ['-R', 'postgres', dir]);
  await asPostgres([`${PG_BIN}/initdb`, '-D', `${dir}/data`, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const start = () =>
    asPostgres([
      `${PG_BIN}/pg_ctl`,
      '-D',
      `${dir}/data`,
      '-l',
      `${dir}/log`,
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      'start',
    ]);
  const halt = () => asPostgres([`${PG_BIN}/pg_ctl`, '-D', `${dir}/data`, '-m', 'immediate', '-w', 'stop']);
  const signal = async (sig: 'SIGSTOP' | 'SIGCONT') => {
    const pid = Number((await readFile(`${dir}/data/postmaster.pid`, 'utf8')).split('\n')[0]);
    try {
      execFileSync('pkill', [`-${sig.slice(3)}`, '-P', String(pid)]);
    } catch {
      // no children
    }
    process.kill(pid, sig);
  };
  await start();
  let stopped = false;
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: async () => {
      await halt();
      await start();
    },
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await signal('SIGCONT').catch(() => undefined);
      await halt().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------
// A child process of the suite (test/reliability/children/*.mjs, against the built package) that the test SIGKILLs.

export interface KillableChild {
  /** Everything the child wrote to stdout so far. */
  output(): string;
  /** SIGKILL, then wait for the exit: nothing of the process outlives this. */
  kill(): Promise<void>;
}

/**
 * Spawns `script` (node) with `args` and `env` laid over this process's, and waits until it writes `READY`.
 * @throws Error with the child's stderr when it exits or stays silent for `readyMs` first
 */
export async function startKillableChild(script: string, args: readonly string[], env: Record<string, string>, readyMs = 30_000): Promise<KillableChild> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let waited = 0; waited < readyMs && !output.includes('READY') && child.exitCode === null; waited += 50) await new Promise((r) => setTimeout(r, 50));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  if (!output.includes('READY')) {
    await kill();
    throw new Error(`${script} did not get ready: ${stderr || output}`);
  }
  return { output: () => output, kill };
}
