import { isJsonObject, type JsonObject, type JsonValue } from './json-codec.js';
import { QdrantError } from './qdrant-error.js';

/** One step of a Qdrant payload key such as `a.b[].c` or `list[0]`. */
export type JsonPathItem = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'index'; readonly index: number } | { readonly kind: 'wildcard' };

const KEY_CHAR = /[\p{L}\p{N}_-]/u;

/**
 * Parses Qdrant's payload key syntax: dot-separated keys (optionally
 * double-quoted), each followed by any number of `[]` or `[n]`.
 * @throws {QdrantError} 400 format error for a malformed key.
 */
export function parseJsonPath(path: string): JsonPathItem[] {
  const invalid = (): QdrantError => QdrantError.format(`Invalid JSON path \`${path}\``);
  const items: JsonPathItem[] = [];
  let i = 0;
  while (i < path.length) {
    if (path[i] === '"') {
      const end = path.indexOf('"', i + 1);
      if (end === -1) throw invalid();
      items.push({ kind: 'key', key: path.slice(i + 1, end) });
      i = end + 1;
    } else {
      const start = i;
      while (i < path.length && KEY_CHAR.test(path[i] ?? '')) i += 1;
      if (i === start) throw invalid();
      items.push({ kind: 'key', key: path.slice(start, i) });
    }
    while (path[i] === '[') {
      const end = path.indexOf(']', i + 1);
      if (end === -1) throw invalid();
      const inner = path.slice(i + 1, end);
      if (inner === '') items.push({ kind: 'wildcard' });
      else if (/^\d+$/.test(inner)) items.push({ kind: 'index', index: Number(inner) });
      else throw invalid();
      i = end + 1;
    }
    if (i < path.length) {
      if (path[i] !== '.' || i === path.length - 1) throw invalid();
      i += 1;
    }
  }
  if (items.length === 0) throw invalid();
  return items;
}

/**
 * Walks `path` to every value that holds its last item (every match, for
 * wildcards; a missing key or index ends that branch) and calls `atLast` with
 * that value and the last item.
 */
function forEachLastParent(payload: JsonValue, path: readonly JsonPathItem[], atLast: (parent: JsonValue, item: JsonPathItem) => void): void {
  const visit = (data: JsonValue, index: number): void => {
    const item = path[index];
    if (item === undefined) return;
    if (index === path.length - 1) {
      atLast(data, item);
      return;
    }
    if (item.kind === 'key') {
      if (isJsonObject(data) && Object.hasOwn(data, item.key)) visit(data[item.key] as JsonValue, index + 1);
      return;
    }
    if (!Array.isArray(data)) return;
    if (item.kind === 'index') {
      if (item.index < data.length) visit(data[item.index] as JsonValue, index + 1);
      return;
    }
    for (const element of data) visit(element, index + 1);
  };
  visit(payload, 0);
}

/**
 * The values found at `path`, or undefined when there are none. With `flat`,
 * an array found at the end is spread (what match/range conditions see); without
 * it arrays stay whole (what is_empty / values_count see).
 */
export function valuesAtPath(payload: JsonValue, path: readonly JsonPathItem[], flat = true): JsonValue[] | undefined {
  const result: JsonValue[] = [];
  forEachLastParent(payload, path, (data, item) => {
    if (item.kind === 'key') {
      if (!isJsonObject(data) || !Object.hasOwn(data, item.key)) return;
      const value = data[item.key] as JsonValue;
      if (Array.isArray(value) && flat) result.push(...value);
      else result.push(value);
      return;
    }
    if (!Array.isArray(data)) return;
    if (item.kind === 'index') {
      if (item.index < data.length) result.push(data[item.index] as JsonValue);
      return;
    }
    result.push(...data);
  });
  return result.length > 0 ? result : undefined;
}

/**
 * Merges `patch` into the object(s) at `path`, creating missing objects, the
 * way `set_payload` with a `key` does.
 */
export function mergeAtPath(payload: JsonObject, path: readonly JsonPathItem[], patch: JsonObject): void {
  const visit = (data: JsonValue, index: number): void => {
    const item = path[index];
    if (item === undefined) {
      if (isJsonObject(data)) Object.assign(data, structuredClone(patch));
      return;
    }
    if (item.kind === 'key') {
      if (!isJsonObject(data)) return;
      const next = data[item.key];
      if (next === undefined || (path[index + 1] === undefined && !isJsonObject(next)) || next === null) {
        const nextItem = path[index + 1];
        data[item.key] = nextItem !== undefined && nextItem.kind !== 'key' ? [] : {};
      }
      visit(data[item.key] as JsonValue, index + 1);
      return;
    }
    if (!Array.isArray(data)) return;
    if (item.kind === 'index') {
      const element = data[item.index];
      if (element !== undefined) visit(element, index + 1);
      return;
    }
    for (const element of data) visit(element, index + 1);
  };
  visit(payload, 0);
}

/** Removes whatever `path` points at (every match, for wildcards). */
export function deleteAtPath(payload: JsonObject, path: readonly JsonPathItem[]): void {
  forEachLastParent(payload, path, (data, item) => {
    if (item.kind === 'key') {
      if (isJsonObject(data) && Object.hasOwn(data, item.key)) delete data[item.key];
      return;
    }
    if (!Array.isArray(data)) return;
    if (item.kind === 'index') {
      if (item.index < data.length) data.splice(item.index, 1);
      return;
    }
    data.length = 0;
  });
}
