import type { Platform } from '../src/platform.js';
import type { BenchDatabase } from './bench-database.js';
import type { InterleavedOptions } from './interleaved-runner.js';

/** Everything a row needs: the run's mode, timing, databases and wired platforms. */
export interface BenchContext {
  readonly quick: boolean;
  readonly timing: InterleavedOptions;
  /** The main database: `largeUsers` users, tenants and sessions. */
  readonly db: BenchDatabase;
  /** The growth row's small database: `smallUsers` users. */
  readonly smallDb: BenchDatabase;
  readonly largeUsers: number;
  readonly smallUsers: number;
  readonly orgs: number;
  readonly membersPerOrg: number;
  readonly sessionsInPostgres: number;
  /** PostgreSQL + Redis on `db`, key prefix `redisPrefix`. */
  readonly platform: Platform;
  /** PostgreSQL on `smallDb`. */
  readonly smallPlatform: Platform;
  readonly redisUrl: string;
  readonly redisPrefix: string;
  /** Backend labels, e.g. "PostgreSQL 15.14 (local-server)". */
  readonly backends: { readonly postgres: string; readonly redis: string; readonly qdrant: string; readonly qdrantUrl: string | undefined };
  /** Creates another platform (own key prefix / database); closed at the end of the run. */
  platformFor(overrides: Record<string, string>, stores: readonly ('postgres' | 'redis' | 'qdrant' | 'mongo')[]): Promise<Platform>;
  log(line: string): void;
}

/** A deterministic pseudo-random sequence (so both sides of a row see the same keys in the same order). */
export function keyCycle<T>(keys: readonly T[]): () => T {
  if (keys.length === 0) throw new Error('keyCycle: no keys');
  let i = 0;
  return () => {
    const key = keys[i] as T;
    i = i + 1 === keys.length ? 0 : i + 1;
    return key;
  };
}

/** `count` distinct integers in [1, max], shuffled with a fixed seed. */
export function sampleIds(max: number, count: number, seed = 42): number[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
  const out: number[] = [];
  for (let i = 0; i < count; i += 1) out.push(1 + Math.floor(next() * max));
  return out;
}
