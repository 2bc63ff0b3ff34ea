import { inject } from 'vitest';
import type { StoreName } from '../../src/errors.js';

function missingReason(urls: Readonly<Record<StoreName, string | undefined>>, stores: readonly StoreName[]): string | undefined {
  const missing = stores.filter((s) => urls[s] === undefined);
  return missing.length === 0 ? undefined : `needs ${missing.join(', ')}, which this run could not start (see the [stack] lines above)`;
}

/**
 * What to do when a file needs `stores` and the run has `urls`: `run`, or
 * `skip` with the line to print, or `fail` with the error to throw (CI).
 */
export function storeVerdict(
  urls: Readonly<Record<StoreName, string | undefined>>,
  stores: readonly StoreName[],
  caller: string,
  ci: boolean,
): { action: 'run' } | { action: 'skip' | 'fail'; message: string } {
  const reason = missingReason(urls, stores);
  if (reason === undefined) return { action: 'run' };
  return ci ? { action: 'fail', message: `CI=true: ${caller} ${reason}` } : { action: 'skip', message: `[skip] ${caller}: skipped, ${reason}` };
}

/**
 * True when this run has every store in `stores`. A missing store never
 * passes quietly: with `CI=true` it throws (the file fails, naming the store);
 * elsewhere it prints one line saying what is skipped and why, then the caller
 * skips (`describe.skipIf(!requireStores('postgres'))`).
 *
 * @throws Error in CI when a store is missing
 */
export function requireStores(...stores: StoreName[]): boolean {
  const caller =
    new Error().stack
      ?.split('\n')[2]
      ?.trim()
      .replace(/^at\s+/, '') ?? 'a test file';
  const verdict = storeVerdict(inject('stack').urls, stores, caller, Boolean(process.env.CI));
  if (verdict.action === 'run') return true;
  if (verdict.action === 'fail') throw new Error(verdict.message);
  process.stderr.write(`${verdict.message}\n`);
  return false;
}

/**
 * The same check for a fixture (test/support/fixtures.ts), which runs after
 * collection and so cannot skip: a file that may run without a store gates
 * itself with `requireStores()` first and never gets here; any other file
 * fails with one line naming the store, not with a driver's connection error.
 *
 * @throws Error when a store is missing
 */
export function assertStores(fixture: string, stores: readonly StoreName[]): void {
  const reason = missingReason(inject('stack').urls, stores);
  if (reason !== undefined) throw new Error(`the ${fixture} fixture ${reason}`);
}
