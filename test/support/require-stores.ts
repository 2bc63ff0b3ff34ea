import { inject } from 'vitest';
import type { StoreName } from '../../src/errors.js';

/**
 * True when this run has every store in `stores`. A missing store never
 * passes quietly: with `CI=true` it throws (the file fails, naming the store);
 * elsewhere it prints one line saying what is skipped and why, then the caller
 * skips (`describe.skipIf(!requireStores('postgres'))`).
 *
 * @throws Error in CI when a store is missing
 */
export function requireStores(...stores: StoreName[]): boolean {
  const stack = inject('stack');
  const missing = stores.filter((s) => stack.urls[s] === undefined);
  if (missing.length === 0) return true;
  const caller = new Error().stack?.split('\n')[2]?.trim().replace(/^at\s+/, '') ?? 'a test file';
  const reason = `needs ${missing.join(', ')}, which this run could not start (see the [stack] lines above)`;
  if (process.env.CI) throw new Error(`CI=true: ${caller} ${reason}`);
  process.stderr.write(`[skip] ${caller}: skipped, ${reason}\n`);
  return false;
}
