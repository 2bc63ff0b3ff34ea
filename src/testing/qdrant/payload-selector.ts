import { isJsonObject, type JsonObject, type JsonValue } from './json-codec.js';
import { QdrantError } from './qdrant-error.js';

/** What `with_payload` asked for. */
export type PayloadSelector =
  | { readonly kind: 'all' }
  | { readonly kind: 'none' }
  | { readonly kind: 'include'; readonly paths: readonly string[] }
  | { readonly kind: 'exclude'; readonly paths: readonly string[] };

function stringList(value: JsonValue | undefined, field: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw QdrantError.format(`invalid type for \`${field}\`, expected a sequence of strings`);
  }
  return value as string[];
}

/**
 * Parses `with_payload`: a bool, a list of keys to include, or
 * `{include: [...]}` / `{exclude: [...]}`.
 * @throws {QdrantError} 400 format error for any other shape.
 */
export function parsePayloadSelector(value: JsonValue | undefined, fallback: boolean): PayloadSelector {
  if (value === undefined || value === null) return { kind: fallback ? 'all' : 'none' };
  if (typeof value === 'boolean') return { kind: value ? 'all' : 'none' };
  if (Array.isArray(value)) return { kind: 'include', paths: stringList(value, 'with_payload') };
  if (isJsonObject(value)) {
    if (value['include'] !== undefined) return { kind: 'include', paths: stringList(value['include'], 'include') };
    if (value['exclude'] !== undefined) return { kind: 'exclude', paths: stringList(value['exclude'], 'exclude') };
  }
  throw QdrantError.format('data did not match any variant of untagged enum WithPayloadInterface');
}

// Keys are compared per segment, with `.` and `[` both splitting, so that a
// pattern `a` selects `a.b` and `a.b` selects `a` (its container) too.
function parts(path: string): string[] {
  return path.replaceAll('.', '[.').split('[');
}

function includes(pattern: string, key: string): boolean {
  const p = parts(pattern);
  const k = parts(key);
  const n = Math.min(p.length, k.length);
  for (let i = 0; i < n; i += 1) if (p[i] !== k[i]) return false;
  return true;
}

function excludes(pattern: string, key: string): boolean {
  if (pattern.length > key.length) return false;
  return includes(pattern, key);
}

function filterValue(value: JsonValue, keep: (path: string) => boolean, path: string): JsonValue {
  if (isJsonObject(value)) {
    const prefix = path === '' ? '' : `${path}.`;
    const result: JsonObject = {};
    for (const [key, inner] of Object.entries(value)) {
      if (keep(prefix + key)) result[key] = filterValue(inner, keep, prefix + key);
    }
    return result;
  }
  if (Array.isArray(value)) {
    const arrayPath = `${path}[]`;
    return keep(arrayPath) ? value.map((inner) => filterValue(inner, keep, arrayPath)) : [];
  }
  return value;
}

/** The payload to return for a point, or undefined when none is asked for. */
export function selectPayload(payload: JsonObject, selector: PayloadSelector): JsonObject | undefined {
  switch (selector.kind) {
    case 'none':
      return undefined;
    case 'all':
      return payload;
    case 'include':
      return filterValue(payload, (key) => selector.paths.some((p) => includes(p, key)), '') as JsonObject;
    case 'exclude':
      return filterValue(payload, (key) => selector.paths.every((p) => !excludes(p, key)), '') as JsonObject;
  }
}
