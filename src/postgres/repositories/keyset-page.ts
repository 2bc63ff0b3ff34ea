import { sql, type FragmentSqlToken } from 'slonik';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import { keysetPageInput, toKeysetPage as pageOf, type KeysetPage, type KeysetPageInput } from '../../keyset-page.js';
import { parseInput } from '../../parse-input.js';

// The page shapes are the root's (src/keyset-page.ts), shared by every store; this file adds PostgreSQL's cursor.
export type { KeysetPage, KeysetPageInput } from '../../keyset-page.js';

const DEFAULT_PAGE_LIMIT = 50;
const MAX_PAGE_LIMIT = 500;

/** `limit` (1–500, default 50) and an opaque `cursor` from a previous page. */
export const keysetPageInputSchema = keysetPageInput(MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT).default({ limit: DEFAULT_PAGE_LIMIT });

/**
 * Position after which the next page starts: the sort key of the last row
 * returned. Microseconds, not a `Date`: timestamptz has microsecond precision,
 * and a millisecond cursor would return the last row of a page again.
 */
export interface KeysetPosition {
  /** `created_at` in microseconds since the epoch (select it as {@link sortMicros}). */
  readonly us: number;
  readonly id: string;
}

const positionSchema = z.tuple([z.number().int().nonnegative(), z.uuid()]);

/**
 * Opaque cursor: base64url of `[epochMicros, id]`. Opaque so clients cannot
 * build positions by hand and the encoding can change without an API break.
 */
export function encodeKeysetCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.us, position.id]), 'utf8').toString('base64url');
}

/**
 * A list's page input, validated, with its cursor decoded: `position` is where
 * the page starts (undefined for the first page).
 * @throws ValidationError naming `page.*`
 */
export function parseKeysetPage(page: KeysetPageInput | undefined): { limit: number; position: KeysetPosition | undefined } {
  const { limit, cursor } = parseInput(keysetPageInputSchema, page, 'page');
  return { limit, position: cursor === undefined ? undefined : decodeKeysetCursor(cursor) };
}

/** @throws ValidationError naming `page.cursor` when the cursor was not made by {@link encodeKeysetCursor} */
export function decodeKeysetCursor(cursor: string): KeysetPosition {
  try {
    const [micros, id] = positionSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { us: micros, id };
  } catch {
    throw new ValidationError([{ path: 'page.cursor', message: 'is not a cursor from a previous page' }]);
  }
}

/** A fetched row with its sort position (list queries select `sort_us` for it). */
export interface PositionedRow<T> {
  readonly item: T;
  readonly position: KeysetPosition;
}

/**
 * Builds the page from `limit + 1` fetched rows: the extra row only proves a
 * next page exists, which saves a count query.
 */
export function toKeysetPage<T>(rows: readonly PositionedRow<T>[], limit: number): KeysetPage<T> {
  return pageOf(
    rows,
    limit,
    (r) => r.item,
    (r) => encodeKeysetCursor(r.position),
  );
}

/** SQL selecting `column` (a timestamptz) as whole microseconds since the epoch: exact in an int8 and a JS number. */
export function sortMicros(column: FragmentSqlToken): FragmentSqlToken {
  return sql.fragment`(extract(epoch FROM ${column}) * 1000000)::int8`;
}

/** SQL turning a cursor's microseconds back into a timestamptz (float8 × interval is exact below 2^53). */
export function microsToTimestamp(us: number): FragmentSqlToken {
  return sql.fragment`(to_timestamp(0) + ${us}::int8 * interval '1 microsecond')`;
}
