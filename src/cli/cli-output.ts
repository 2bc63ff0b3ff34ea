import { PlatformError, StoreUnavailableError, type StoreName } from '../errors.js';
import { redactFields } from '../logger.js';
import { STORE_URL_VARIABLES } from '../testing/start-local-stack.js';

/** Exit codes shared by every command (README, "Exit codes"): 0 ok, 1 a store or an operation failed, 2 usage or configuration. */
export const EXIT = { ok: 0, failed: 1, badConfig: 2 } as const;

/** Writes one line to stdout. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Prints `value` as JSON (secrets redacted), fractional figures rounded to 0.1 (`2785.1167799999994` → `2785.1`). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(redactFields(value), roundFigures, 2)}\n`);
}

function roundFigures(_key: string, value: unknown): unknown {
  return typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value) ? Math.round(value * 10) / 10 : value;
}

/** The next step when `store` cannot be reached. */
export function storeHint(store: StoreName): string {
  return `check ${STORE_URL_VARIABLES[store]}, or start local stores with \`platform-data stack up\``;
}

/**
 * Prints `error` as one line on stderr (no stack trace, no secrets) and returns
 * the exit code: 2 for configuration and bad input (an option, an argument or an
 * environment variable the caller must change), 1 otherwise.
 */
export function reportError(error: unknown): number {
  if (error instanceof PlatformError) {
    const prefix = error instanceof StoreUnavailableError ? `${error.store}: ` : '';
    const hint = error instanceof StoreUnavailableError ? ` (${storeHint(error.store)})` : '';
    process.stderr.write(`error: ${prefix}${String(redactFields(error.message))}${hint}\n`);
    return error.code === 'CONFIG_INVALID' || error.code === 'VALIDATION_FAILED' ? EXIT.badConfig : EXIT.failed;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${String(redactFields(message)).split('\n')[0]}\n`);
  return EXIT.failed;
}

/** Formats a table of rows (all strings) with padded columns. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
