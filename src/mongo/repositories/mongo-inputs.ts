import { z } from 'zod';
import { ValidationError } from '../../errors.js';

/** Shared zod pieces for MongoDB repository inputs. */
export const mongoId = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

/**
 * Opaque keyset cursor (the root's KeysetPage vocabulary): base64url JSON of
 * the last returned row's sort key, e.g. `[lastMessageAt ms, _id]`.
 */
export function encodeMongoCursor(position: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/** @throws ValidationError naming `cursor` when it was not made by {@link encodeMongoCursor} for this list */
export function decodeMongoCursor<S extends z.ZodType>(cursor: string, position: S): z.output<S> {
  try {
    return position.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new ValidationError([{ path: 'cursor', message: 'is not a cursor from a previous page' }]);
  }
}

/** A bounded `limit` with a default, for inputs that are not keyset pages. */
export const pageLimit = (max: number, fallback: number) => z.number().int('must be an integer').min(1).max(max).default(fallback);
