import { isJsonObject, type JsonObject, type JsonValue } from './json-codec.js';
import { QdrantError } from './qdrant-error.js';

function describe(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a sequence';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number' && !Number.isInteger(value)) return `floating point \`${value}\``;
  return `${typeof value} \`${String(value)}\``;
}

/** @throws {QdrantError} 400 unless `value` is a JSON object. */
export function requireObject(value: JsonValue, expected: string): JsonObject {
  if (!isJsonObject(value)) throw QdrantError.format(`invalid type: ${describe(value)}, expected struct ${expected}`);
  return value;
}

/** A non-negative integer field, like serde's `usize`. @throws {QdrantError} 400 otherwise. */
export function optionalUsize(object: JsonObject, field: string): number | undefined {
  const value = object[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) {
    if (value < 0) throw QdrantError.format(`invalid value: integer \`${value}\`, expected usize`);
    return value;
  }
  throw QdrantError.format(`invalid type: ${describe(value)}, expected usize`);
}

/** Like `optionalUsize`, plus Qdrant's `#[validate(range(min = 1))]`. @throws {QdrantError} 422 for 0. */
export function optionalLimit(object: JsonObject, field: string, validationPath: string): number | undefined {
  const value = optionalUsize(object, field);
  if (value === 0) throw QdrantError.validation([`${validationPath}: value 0 invalid, must be 1 or larger`]);
  return value;
}

export function optionalNumber(object: JsonObject, field: string): number | undefined {
  const value = object[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  throw QdrantError.format(`invalid type: ${describe(value)}, expected f32`);
}

export function optionalString(object: JsonObject, field: string): string | undefined {
  const value = object[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  throw QdrantError.format(`invalid type: ${describe(value)}, expected a string`);
}

/** Rejects request features the stand-in does not implement, instead of silently ignoring them. */
export function rejectPresent(object: JsonObject, fields: readonly string[]): void {
  for (const field of fields) {
    const value = object[field];
    if (value !== undefined && value !== null) throw QdrantError.unsupported(`\`${field}\``);
  }
}
