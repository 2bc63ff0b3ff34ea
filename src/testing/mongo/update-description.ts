import type { Document } from 'bson';
import { BsonValues } from './bson-values.js';

/** A change event's `updateDescription`. */
export interface UpdateDescription {
  updatedFields: Document;
  removedFields: string[];
  truncatedArrays: Array<{ field: string; newSize: number }>;
}

/** Operators that log appended array elements as `path.index` (mongod's v2 update log). */
const APPENDING = new Set(['$push', '$addToSet']);

/**
 * The `updateDescription` mongod reports for an update. For update operators
 * mongod logs each modified path at the depth the operator named it (a `$set`
 * of `a` reports all of `a`, a `$set` of `a.b` reports `a.b`, a `$push`
 * reports the appended elements as `arr.<index>`); for a pipeline update it
 * diffs the documents (nested fields and array elements, truncation as
 * `truncatedArrays`). Both are computed here from the before and after images.
 */
export function describeUpdate(previous: Document, next: Document, update: Document | Document[] | undefined): UpdateDescription {
  const out: UpdateDescription = { updatedFields: {}, removedFields: [], truncatedArrays: [] };
  const patterns = Array.isArray(update) || update === undefined ? undefined : operatorPaths(update);
  const descend = (path: string): boolean => patterns === undefined || patterns.some((p) => coversDeeper(p, path));
  diffObjects(previous, next, '', out, descend);
  return out;
}

function diffObjects(previous: Document, next: Document, prefix: string, out: UpdateDescription, descend: (path: string) => boolean): void {
  for (const [key, value] of Object.entries(next)) {
    const path = prefix + key;
    if (!(key in previous)) out.updatedFields[path] = value;
    else diffValues(previous[key], value, path, out, descend);
  }
  for (const key of Object.keys(previous)) if (!(key in next)) out.removedFields.push(prefix + key);
}

function diffValues(before: unknown, after: unknown, path: string, out: UpdateDescription, descend: (path: string) => boolean): void {
  if (BsonValues.canonicalKey(before) === BsonValues.canonicalKey(after) && sameType(before, after)) return;
  if (BsonValues.isPlainObject(before) && BsonValues.isPlainObject(after) && descend(path)) {
    diffObjects(before, after, `${path}.`, out, descend);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && descend(path)) {
    const shared = Math.min(before.length, after.length);
    for (let i = 0; i < shared; i++) diffValues(before[i], after[i], `${path}.${i}`, out, descend);
    for (let i = shared; i < after.length; i++) out.updatedFields[`${path}.${i}`] = after[i];
    if (after.length < before.length) out.truncatedArrays.push({ field: path, newSize: after.length });
    return;
  }
  out.updatedFields[path] = after;
}

function sameType(a: unknown, b: unknown): boolean {
  return (
    Array.isArray(a) === Array.isArray(b) &&
    typeof a === typeof b &&
    (a as { _bsontype?: string } | null)?._bsontype === (b as { _bsontype?: string } | null)?._bsontype
  );
}

/** The field paths an operator update names, positional segments as `*`; appending operators add `path.*`. */
function operatorPaths(update: Document): string[][] {
  const out: string[][] = [];
  for (const [operator, spec] of Object.entries(update)) {
    if (!BsonValues.isPlainObject(spec)) continue;
    for (const field of Object.keys(spec)) {
      const segments = field.split('.').map((s) => (s.startsWith('$') || /^\d+$/.test(s) ? '*' : s));
      out.push(segments);
      if (APPENDING.has(operator)) out.push([...segments, '*']);
      if (operator === '$rename' && typeof spec[field] === 'string') out.push((spec[field] as string).split('.'));
    }
  }
  return out;
}

/** True when `pattern` names something strictly inside `path` (so the diff must go deeper than `path`). */
function coversDeeper(pattern: string[], path: string): boolean {
  const segments = path.split('.');
  if (pattern.length <= segments.length) return false;
  return segments.every((s, i) => pattern[i] === s || (pattern[i] === '*' && /^\d+$/.test(s)));
}
