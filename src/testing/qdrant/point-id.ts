import type { JsonValue } from './json-codec.js';
import { QdrantError } from './qdrant-error.js';

/** An unsigned 64-bit integer id (as bigint) or a lowercase hyphenated UUID. */
export type PointId = bigint | string;

const U64_MAX = (1n << 64n) - 1n;
const HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SIMPLE = /^[0-9a-f]{32}$/;

function invalid(shown: string): QdrantError {
  return QdrantError.format(`value ${shown} is not a valid point ID, valid values are either an unsigned integer or a UUID`);
}

/** Accepts the UUID spellings the `uuid` crate parses: hyphenated, simple, braced and URN. */
function normalizeUuid(text: string): string | undefined {
  let candidate = text.toLowerCase();
  if (candidate.startsWith('urn:uuid:')) candidate = candidate.slice('urn:uuid:'.length);
  if (candidate.startsWith('{') && candidate.endsWith('}')) candidate = candidate.slice(1, -1);
  if (HYPHENATED.test(candidate)) return candidate;
  if (SIMPLE.test(candidate)) {
    return `${candidate.slice(0, 8)}-${candidate.slice(8, 12)}-${candidate.slice(12, 16)}-${candidate.slice(16, 20)}-${candidate.slice(20)}`;
  }
  return undefined;
}

/**
 * Parses a point id from a request body.
 * @throws {QdrantError} 400 "Format error in JSON body: value … is not a valid point ID, …".
 */
export function parsePointId(value: JsonValue | undefined): PointId {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return BigInt(value);
    throw invalid(String(value));
  }
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= U64_MAX) return value;
    throw invalid(value.toString());
  }
  if (typeof value === 'string') {
    const uuid = normalizeUuid(value);
    if (uuid !== undefined) return uuid;
    throw invalid(value);
  }
  throw invalid(JSON.stringify(value) ?? 'undefined');
}

/** A Map key that is unique per id (UUIDs always contain hyphens, integers never do). */
export function pointIdKey(id: PointId): string {
  return typeof id === 'bigint' ? id.toString() : id;
}

/** Qdrant's order: integer ids first (numerically), then UUIDs (bytewise, same as lowercase hex). */
export function comparePointIds(a: PointId, b: PointId): number {
  if (typeof a === 'bigint') {
    if (typeof b !== 'bigint') return -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof b === 'bigint') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The id as it goes back over JSON: a number when exact, else a bigint written raw. */
export function pointIdToJson(id: PointId): number | bigint | string {
  if (typeof id === 'bigint') return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
  return id;
}

export function formatPointId(id: PointId): string {
  return typeof id === 'bigint' ? id.toString() : id;
}
