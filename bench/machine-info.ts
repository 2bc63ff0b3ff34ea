import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Ceilings } from './bench-result.js';
import { withAdmin } from './bench-database.js';

const run = promisify(execFile);

export function machineBasics(): { cpus: number; cpuModel: string; memoryGb: number; node: string; os: string; loadAverage1m: number } {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${osType()} ${release()}`,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

function findBinary(name: string, extraDirs: readonly string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...extraDirs];
  return dirs.map((d) => join(d, name)).find((p) => p.startsWith('/') && existsSync(p));
}

function postgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .reverse()
    .map((v) => join(root, v, 'bin'));
}

export interface CeilingOptions {
  readonly adminUrl: string;
  readonly redisUrl: string;
  /** Scratch database for pgbench (created and dropped here). */
  readonly scratchDatabase: string;
  readonly quick: boolean;
}

/**
 * The machine's ceilings, measured in the same run: `pgbench -S -M prepared`
 * (read-only primary-key lookups, 16 clients) and `redis-benchmark -t get`.
 * A missing tool yields null with a note; it never fails the run.
 */
export async function measureCeilings(options: CeilingOptions): Promise<Ceilings> {
  const notes: string[] = [];
  let pgbenchSelectTps: number | null = null;
  let pgbenchCommand: string | null = null;
  const pgbench = findBinary('pgbench', postgresBinDirs());
  if (pgbench) {
    const admin = new URL(options.adminUrl);
    const scale = options.quick ? 1 : 10;
    const seconds = options.quick ? 2 : 5;
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(admin.password) };
    const connection = ['-h', admin.hostname, '-p', admin.port || '5432', '-U', decodeURIComponent(admin.username) || 'postgres'];
    try {
      await withAdmin(options.adminUrl, (c) => c.query(`CREATE DATABASE ${options.scratchDatabase}`));
      await run(pgbench, [...connection, '-i', '-q', '-s', String(scale), options.scratchDatabase], { env, timeout: 120_000 });
      const args = ['-S', '-M', 'prepared', '-c', '16', '-j', '2', '-T', String(seconds)];
      const { stdout } = await run(pgbench, [...connection, ...args, options.scratchDatabase], { env, timeout: 60_000 });
      const match = /tps = ([\d.]+)/.exec(stdout);
      pgbenchSelectTps = match?.[1] ? Math.round(Number(match[1])) : null;
      pgbenchCommand = `pgbench ${args.join(' ')} (scale ${scale})`;
    } catch (error) {
      notes.push(`pgbench failed: ${(error as Error).message.split('\n')[0]}`);
    } finally {
      await withAdmin(options.adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${options.scratchDatabase} WITH (FORCE)`)).catch(() => undefined);
    }
  } else {
    notes.push('pgbench not found');
  }

  let redisGetRps: number | null = null;
  let redisBenchmarkCommand: string | null = null;
  const redisBenchmark = findBinary('redis-benchmark', ['/usr/bin', '/usr/local/bin']);
  if (redisBenchmark) {
    const url = new URL(options.redisUrl);
    const requests = options.quick ? 20_000 : 100_000;
    const args = ['-t', 'get', '-c', '16', '-n', String(requests), '-q'];
    try {
      const { stdout } = await run(redisBenchmark, ['-h', url.hostname, '-p', url.port || '6379', ...args], { timeout: 60_000 });
      const match = /GET: ([\d.]+) requests per second/.exec(stdout);
      redisGetRps = match?.[1] ? Math.round(Number(match[1])) : null;
      redisBenchmarkCommand = `redis-benchmark ${args.join(' ')}`;
    } catch (error) {
      notes.push(`redis-benchmark failed: ${(error as Error).message.split('\n')[0]}`);
    }
  } else {
    notes.push('redis-benchmark not found');
  }
  return { pgbenchSelectTps, pgbenchCommand, redisGetRps, redisBenchmarkCommand, note: notes.length > 0 ? notes.join('; ') : null };
}

export async function postgresVersion(url: string): Promise<string> {
  return withAdmin(url, async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown');
}
