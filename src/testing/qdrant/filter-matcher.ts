import { isJsonObject, type JsonValue } from './json-codec.js';
import { parseJsonPath, valuesAtPath, type JsonPathItem } from './json-path.js';
import { parsePointId, pointIdKey, type PointId } from './point-id.js';
import { QdrantError } from './qdrant-error.js';

type Scalar = string | number | bigint | boolean;

type Match =
  | { readonly kind: 'value'; readonly value: Scalar }
  | { readonly kind: 'any'; readonly values: readonly Scalar[] }
  | { readonly kind: 'except'; readonly values: readonly Scalar[] }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'text_any'; readonly text: string }
  | { readonly kind: 'phrase'; readonly text: string };

interface Bounds<T> {
  readonly lt?: T;
  readonly lte?: T;
  readonly gt?: T;
  readonly gte?: T;
}

type Condition =
  | {
      readonly kind: 'field';
      readonly key: string;
      readonly path: readonly JsonPathItem[];
      readonly match?: Match;
      readonly range?: Bounds<number>;
      readonly datetimeRange?: Bounds<number>;
      readonly valuesCount?: Bounds<number>;
    }
  | { readonly kind: 'is_empty'; readonly path: readonly JsonPathItem[] }
  | { readonly kind: 'is_null'; readonly path: readonly JsonPathItem[] }
  | { readonly kind: 'has_id'; readonly ids: ReadonlySet<string> }
  | { readonly kind: 'has_vector'; readonly name: string }
  | { readonly kind: 'nested'; readonly path: readonly JsonPathItem[]; readonly filter: Filter }
  | { readonly kind: 'filter'; readonly filter: Filter };

/** A parsed Qdrant filter: `must`, `should`, `must_not`, `min_should`. */
export interface Filter {
  readonly must?: readonly Condition[];
  readonly should?: readonly Condition[];
  readonly mustNot?: readonly Condition[];
  readonly minShould?: { readonly conditions: readonly Condition[]; readonly minCount: number };
}

/** What a filter is evaluated against. */
export interface FilterTarget {
  readonly id: PointId | undefined;
  readonly payload: JsonValue;
  readonly vectorNames: ReadonlySet<string>;
}

/** Collection facts that change how conditions match (full-text indexes tokenize). */
export interface FilterContext {
  readonly textIndexedKeys: ReadonlySet<string>;
}

const FIELD_CONDITIONS = ['match', 'range', 'values_count', 'geo_bounding_box', 'geo_radius', 'geo_polygon'];

function fail(where: string, message: string): QdrantError {
  return QdrantError.format(`${where}: ${message}`);
}

/** Match values are strings, integers or booleans (Qdrant's `ValueVariants`); a float is a format error. */
function isScalar(value: JsonValue | undefined): value is Scalar {
  return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint' || typeof value === 'boolean';
}

function parseScalarList(value: JsonValue | undefined, where: string): Scalar[] {
  if (!Array.isArray(value) || !value.every(isScalar)) throw fail(where, 'expected a list of strings or integers');
  return value as Scalar[];
}

function parseMatch(value: JsonValue | undefined, where: string): Match {
  if (!isJsonObject(value)) throw fail(where, 'invalid type, expected a match object');
  if ('value' in value) {
    const v = value['value'];
    if (!isScalar(v)) throw fail(where, 'match value must be a string, integer or bool');
    return { kind: 'value', value: v };
  }
  if ('any' in value) return { kind: 'any', values: parseScalarList(value['any'], where) };
  if ('except' in value) return { kind: 'except', values: parseScalarList(value['except'], where) };
  for (const kind of ['text', 'text_any', 'phrase'] as const) {
    const text = value[kind];
    if (text !== undefined) {
      if (typeof text !== 'string') throw fail(where, `\`${kind}\` must be a string`);
      return { kind, text };
    }
  }
  throw fail(where, 'data did not match any variant of untagged enum Match');
}

function toNumber(value: JsonValue | undefined): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

function parseBounds(value: JsonValue | undefined, where: string): { numeric?: Bounds<number>; datetime?: Bounds<number> } {
  if (!isJsonObject(value)) throw fail(where, 'invalid type, expected a range object');
  const keys = ['lt', 'lte', 'gt', 'gte'] as const;
  const present = keys.filter((k) => value[k] !== undefined && value[k] !== null);
  const isDatetime = present.some((k) => typeof value[k] === 'string');
  const bounds: { lt?: number; lte?: number; gt?: number; gte?: number } = {};
  for (const k of present) {
    const raw = value[k];
    const parsed = isDatetime ? (typeof raw === 'string' ? parseDatetime(raw) : undefined) : toNumber(raw);
    if (parsed === undefined) throw fail(where, `invalid \`${k}\` bound`);
    bounds[k] = parsed;
  }
  return isDatetime ? { datetime: bounds } : { numeric: bounds };
}

// RFC 3339 with or without a zone; Qdrant assumes UTC when none is given.
function parseDatetime(text: string): number | undefined {
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(text);
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const normalized = dateOnly ? `${text}T00:00:00Z` : hasZone ? text : `${text.replace(' ', 'T')}Z`;
  const ms = Date.parse(normalized);
  return Number.isNaN(ms) ? undefined : ms;
}

function parseConditionList(value: JsonValue | undefined, where: string): Condition[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.map((c, i) => parseCondition(c, `${where}[${i}]`));
  return [parseCondition(value, where)];
}

function parseCondition(value: JsonValue, where: string): Condition {
  if (!isJsonObject(value)) {
    throw fail(
      where,
      'Expected some form of condition, which can be a field condition (like {"key": ..., "match": ... }), or some other mentioned in the documentation',
    );
  }
  if (typeof value['key'] === 'string') {
    const key = value['key'];
    if (!FIELD_CONDITIONS.some((c) => value[c] !== undefined && value[c] !== null)) {
      throw QdrantError.validation([`${where}: At least one field condition must be specified`]);
    }
    if (['geo_bounding_box', 'geo_radius', 'geo_polygon'].some((c) => value[c] !== undefined && value[c] !== null)) {
      throw QdrantError.unsupported('geo filtering');
    }
    const range = value['range'] === undefined || value['range'] === null ? undefined : parseBounds(value['range'], `${where}.range`);
    const count =
      value['values_count'] === undefined || value['values_count'] === null ? undefined : parseBounds(value['values_count'], `${where}.values_count`);
    return {
      kind: 'field',
      key,
      path: parseJsonPath(key),
      ...(value['match'] === undefined || value['match'] === null ? {} : { match: parseMatch(value['match'], `${where}.match`) }),
      ...(range?.numeric ? { range: range.numeric } : {}),
      ...(range?.datetime ? { datetimeRange: range.datetime } : {}),
      ...(count?.numeric ? { valuesCount: count.numeric } : {}),
    };
  }
  const keyed = (name: 'is_empty' | 'is_null'): readonly JsonPathItem[] => {
    const inner = value[name];
    if (!isJsonObject(inner) || typeof inner['key'] !== 'string') throw fail(`${where}.${name}`, 'missing field `key`');
    return parseJsonPath(inner['key']);
  };
  if (value['is_empty'] !== undefined) return { kind: 'is_empty', path: keyed('is_empty') };
  if (value['is_null'] !== undefined) return { kind: 'is_null', path: keyed('is_null') };
  if (value['has_id'] !== undefined) {
    const ids = value['has_id'];
    if (!Array.isArray(ids)) throw fail(`${where}.has_id`, 'expected a sequence of point ids');
    return { kind: 'has_id', ids: new Set(ids.map((id) => pointIdKey(parsePointId(id)))) };
  }
  if (value['has_vector'] !== undefined) {
    const name = value['has_vector'];
    if (typeof name !== 'string') throw fail(`${where}.has_vector`, 'expected a string');
    return { kind: 'has_vector', name };
  }
  if (value['nested'] !== undefined) {
    const nested = value['nested'];
    if (!isJsonObject(nested) || typeof nested['key'] !== 'string') throw fail(`${where}.nested`, 'missing field `key`');
    const key = nested['key'].endsWith('[]') ? nested['key'].slice(0, -2) : nested['key'];
    const filter = parseFilter(nested['filter'], `${where}.nested.filter`);
    if (filter === undefined) throw fail(`${where}.nested`, 'missing field `filter`');
    return { kind: 'nested', path: parseJsonPath(key), filter };
  }
  if (['must', 'should', 'must_not', 'min_should'].some((k) => value[k] !== undefined)) {
    const filter = parseFilter(value, where);
    if (filter !== undefined) return { kind: 'filter', filter };
  }
  if (value['geo_bounding_box'] !== undefined || value['text'] !== undefined) throw QdrantError.unsupported('this condition');
  throw fail(
    where,
    'Expected some form of condition, which can be a field condition (like {"key": ..., "match": ... }), or some other mentioned in the documentation',
  );
}

/**
 * Parses a `filter` object. `null` or absent means no filter.
 * @throws {QdrantError} 400 format error / 422 validation error like Qdrant's.
 */
export function parseFilter(value: JsonValue | undefined, where = 'filter'): Filter | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw fail(where, 'invalid type, expected struct Filter');
  const must = parseConditionList(value['must'], `${where}.must`);
  const should = parseConditionList(value['should'], `${where}.should`);
  const mustNot = parseConditionList(value['must_not'], `${where}.must_not`);
  let minShould: Filter['minShould'];
  const rawMin = value['min_should'];
  if (rawMin !== undefined && rawMin !== null) {
    if (!isJsonObject(rawMin) || typeof rawMin['min_count'] !== 'number') throw fail(`${where}.min_should`, 'missing field `min_count`');
    minShould = { conditions: parseConditionList(rawMin['conditions'], `${where}.min_should.conditions`) ?? [], minCount: rawMin['min_count'] };
  }
  return {
    ...(must ? { must } : {}),
    ...(should ? { should } : {}),
    ...(mustNot ? { mustNot } : {}),
    ...(minShould ? { minShould } : {}),
  };
}

function scalarEquals(payloadValue: JsonValue, wanted: Scalar): boolean {
  if (typeof wanted === 'boolean' || typeof payloadValue === 'boolean') return payloadValue === wanted;
  if (typeof wanted === 'string' || typeof payloadValue === 'string') return payloadValue === wanted;
  if ((typeof payloadValue === 'number' || typeof payloadValue === 'bigint') && (typeof wanted === 'number' || typeof wanted === 'bigint')) {
    // Qdrant matches integers only; a fractional payload value never equals a match operand.
    if (typeof payloadValue === 'number' && !Number.isInteger(payloadValue)) return false;
    if (typeof wanted === 'number' && !Number.isInteger(wanted)) return false;
    return BigInt(payloadValue) === BigInt(wanted);
  }
  return false;
}

// What Qdrant's default `word` tokenizer with `lowercase: true` produces.
function tokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}_]+/u)
    .filter((t) => t !== '');
}

function matchValue(match: Match, value: JsonValue, textIndexed: boolean): boolean {
  switch (match.kind) {
    case 'value':
      return scalarEquals(value, match.value);
    case 'any':
      return match.values.some((v) => scalarEquals(value, v));
    case 'except':
      return !match.values.some((v) => scalarEquals(value, v));
    case 'text':
    case 'phrase': {
      if (typeof value !== 'string') return false;
      if (!textIndexed) return value.includes(match.text);
      const have = tokens(value);
      const want = tokens(match.text);
      if (match.kind === 'text') return want.every((t) => have.includes(t));
      return have.some((_, start) => want.every((t, i) => have[start + i] === t));
    }
    case 'text_any': {
      if (typeof value !== 'string') return false;
      if (!textIndexed) return match.text.split(/\s+/).some((word) => word !== '' && value.includes(word));
      const have = tokens(value);
      return tokens(match.text).some((t) => have.includes(t));
    }
  }
}

function inBounds(value: number, bounds: Bounds<number>): boolean {
  return (
    (bounds.lt === undefined || value < bounds.lt) &&
    (bounds.lte === undefined || value <= bounds.lte) &&
    (bounds.gt === undefined || value > bounds.gt) &&
    (bounds.gte === undefined || value >= bounds.gte)
  );
}

function checkCondition(condition: Condition, target: FilterTarget, context: FilterContext): boolean {
  switch (condition.kind) {
    case 'field': {
      if (condition.valuesCount !== undefined) {
        const raw = valuesAtPath(target.payload, condition.path, false) ?? [];
        const counts = raw.length === 0 || raw.every((v) => v === null) ? [0] : raw.map((v) => (v === null ? 0 : Array.isArray(v) ? v.length : 1));
        const bounds = condition.valuesCount;
        if (!counts.some((c) => inBounds(c, bounds))) return false;
      }
      if (condition.match === undefined && condition.range === undefined && condition.datetimeRange === undefined) return true;
      const values = valuesAtPath(target.payload, condition.path);
      if (values === undefined) return false;
      const textIndexed = context.textIndexedKeys.has(condition.key);
      if (condition.match !== undefined) {
        const match = condition.match;
        if (!values.some((v) => matchValue(match, v, textIndexed))) return false;
      }
      if (condition.range !== undefined) {
        const range = condition.range;
        if (!values.some((v) => (typeof v === 'number' || typeof v === 'bigint') && inBounds(Number(v), range))) return false;
      }
      if (condition.datetimeRange !== undefined) {
        const range = condition.datetimeRange;
        if (!values.some((v) => typeof v === 'string' && inBounds(parseDatetime(v) ?? Number.NaN, range))) return false;
      }
      return true;
    }
    case 'is_empty': {
      const values = valuesAtPath(target.payload, condition.path, false);
      return values === undefined || values.every((v) => v === null || (Array.isArray(v) && v.length === 0));
    }
    case 'is_null': {
      const values = valuesAtPath(target.payload, condition.path, false);
      return values !== undefined && values.some((v) => v === null);
    }
    case 'has_id':
      return target.id !== undefined && condition.ids.has(pointIdKey(target.id));
    case 'has_vector':
      return target.vectorNames.has(condition.name);
    case 'nested': {
      const containers = valuesAtPath(target.payload, condition.path, false) ?? [];
      const elements = containers.flatMap((v) => (Array.isArray(v) ? v : []));
      return elements.some((element) => matchesFilter(condition.filter, { id: undefined, payload: element, vectorNames: new Set() }, context));
    }
    case 'filter':
      return matchesFilter(condition.filter, target, context);
  }
}

/** Whether `target` satisfies `filter` (an absent filter matches everything). */
export function matchesFilter(filter: Filter | undefined, target: FilterTarget, context: FilterContext): boolean {
  if (filter === undefined) return true;
  if (filter.must && !filter.must.every((c) => checkCondition(c, target, context))) return false;
  if (filter.mustNot && filter.mustNot.some((c) => checkCondition(c, target, context))) return false;
  if (filter.should && !filter.should.some((c) => checkCondition(c, target, context))) return false;
  if (filter.minShould) {
    const hits = filter.minShould.conditions.filter((c) => checkCondition(c, target, context)).length;
    if (hits < filter.minShould.minCount) return false;
  }
  return true;
}
