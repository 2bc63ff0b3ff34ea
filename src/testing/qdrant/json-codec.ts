import { QdrantError } from './qdrant-error.js';

/** A JSON value as the stand-in keeps it: integers beyond 2^53 stay exact as bigint. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

interface ReviverContext {
  source: string;
}
type ContextReviver = (key: string, value: unknown, context?: ReviverContext) => unknown;
type JsonWithRaw = typeof JSON & { rawJSON(text: string): unknown };

// Node ≥ 21 passes the source text to revivers, which is the only way to keep
// u64 point ids (and large payload integers) exact, as Qdrant does.
const bigintReviver: ContextReviver = (_key, value, context) => {
  if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value) && context !== undefined) {
    if (/^-?\d+$/.test(context.source)) return BigInt(context.source);
  }
  return value;
};

const bigintReplacer = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? (JSON as JsonWithRaw).rawJSON(value.toString()) : value);

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a request body like Qdrant's serde layer would accept it.
 * @throws {QdrantError} 400 "Format error in JSON body: …" when the text is not JSON.
 */
export function parseJsonBody(text: string): JsonValue {
  if (text.trim() === '') {
    throw QdrantError.format('EOF while parsing a value at line 1 column 0');
  }
  try {
    // The reviver costs a call per value; only pay it when a long digit run exists.
    const reviver = /\d{16,}/.test(text) ? (bigintReviver as Parameters<typeof JSON.parse>[1]) : undefined;
    return JSON.parse(text, reviver) as JsonValue;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    const where = /line (\d+) column (\d+)/.exec(detail);
    const location = where ? ` at line ${where[1]} column ${where[2]}` : '';
    throw QdrantError.format(`invalid JSON${location}: ${detail}`);
  }
}

/** Serializes a response; bigint values are written as exact JSON integers. */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(value, bigintReplacer);
}
