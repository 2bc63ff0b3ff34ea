import { z } from 'zod';

/**
 * The one paging vocabulary of every store: a list takes `{ limit, cursor }`
 * and answers `{ items, nextCursor }`; pass `nextCursor` back as `cursor` for
 * the next page. Cursors are opaque strings (each store encodes its own sort
 * position in them), so a client cannot forge positions and the encoding can
 * change without an API break.
 *
 * ```ts
 * import type { KeysetPage } from 'platform-data';
 *
 * async function all<T>(list: (page: { cursor?: string }) => Promise<KeysetPage<T>>): Promise<T[]> {
 *   const items: T[] = [];
 *   let cursor: string | undefined;
 *   do {
 *     const page = await list(cursor === undefined ? {} : { cursor });
 *     items.push(...page.items);
 *     cursor = page.nextCursor;
 *   } while (cursor !== undefined);
 *   return items;
 * }
 * ```
 */
export interface KeysetPage<T> {
  readonly items: readonly T[];
  /** Pass as `cursor` to get the next page; undefined on the last page. */
  readonly nextCursor: string | undefined;
}

/** What a list takes: `limit` (bounds and default per list, see each method) and the `cursor` of a previous page. */
export interface KeysetPageInput {
  readonly limit?: number;
  readonly cursor?: string;
}

/** zod for {@link KeysetPageInput} with the list's own bounds (a cursor is at most 500 characters). */
export function keysetPageInput(maxLimit: number, defaultLimit: number) {
  return z
    .object({
      limit: z.number().int('must be an integer').min(1).max(maxLimit).default(defaultLimit),
      cursor: z.string().max(500).optional(),
    })
    .strict();
}

/**
 * Builds the page from `limit + 1` fetched rows: the extra row only proves a
 * next page exists, which saves a count query. `cursorOf` encodes the last
 * returned row's sort position.
 */
export function toKeysetPage<R, T>(rows: readonly R[], limit: number, toItem: (row: R) => T, cursorOf: (last: R) => string): KeysetPage<T> {
  const kept = rows.slice(0, limit);
  const last = kept.at(-1);
  return { items: kept.map(toItem), nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : undefined };
}
