import type { Collection, StoredPoint } from './collection-store.js';
import { float32ArrayToJson } from './float32-format.js';
import type { JsonObject, JsonValue } from './json-codec.js';
import { selectPayload, type PayloadSelector } from './payload-selector.js';
import { pointIdToJson } from './point-id.js';
import { QdrantError } from './qdrant-error.js';

/** What `with_vector` asked for: all, none, or these vector names. */
export type VectorSelector = boolean | readonly string[];

/** @throws {QdrantError} 400 for a shape other than bool or list of names. */
export function parseVectorSelector(value: JsonValue | undefined, fallback: boolean): VectorSelector {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw QdrantError.format('data did not match any variant of untagged enum WithVector');
}

/** A point's vectors as Qdrant returns them: a bare array for the unnamed vector, else a map. */
export function vectorOutput(collection: Collection, point: StoredPoint, selector: VectorSelector): JsonValue | undefined {
  if (selector === false) return undefined;
  const chosen: JsonObject = {};
  for (const [name, vector] of point.vectors) {
    if (selector === true || selector.includes(name)) chosen[name] = float32ArrayToJson(vector);
  }
  const names = Object.keys(chosen);
  if (!collection.namedVectors && names.length === 1 && names[0] === '') return chosen[''];
  return chosen;
}

/** A `Record` (retrieve / scroll result): `id`, then `payload` and `vector` when asked for. */
export function pointRecord(collection: Collection, point: StoredPoint, payload: PayloadSelector, vector: VectorSelector): Record<string, unknown> {
  const selectedPayload = selectPayload(point.payload, payload);
  const selectedVector = vectorOutput(collection, point, vector);
  return {
    id: pointIdToJson(point.id),
    ...(selectedPayload === undefined ? {} : { payload: selectedPayload }),
    ...(selectedVector === undefined ? {} : { vector: selectedVector }),
  };
}
