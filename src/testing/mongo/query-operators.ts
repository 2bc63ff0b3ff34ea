import type { Document } from 'bson';
import { Context } from 'mingo';
import type { Any, Options } from 'mingo/types';
import { matchesBsonType } from './bson-json-schema.js';
import { BsonValues, MISSING } from './bson-values.js';
import { CommandError } from './command-error.js';

/** `$type` numbers and aliases (MongoDB manual, "$type"). */
const TYPE_ALIASES: Readonly<Record<number, string>> = {
  1: 'double', 2: 'string', 3: 'object', 4: 'array', 5: 'binData', 6: 'undefined', 7: 'objectId', 8: 'bool', 9: 'date',
  10: 'null', 11: 'regex', 13: 'javascript', 16: 'int', 17: 'timestamp', 18: 'long', 19: 'decimal', [-1]: 'minKey', 127: 'maxKey',
};
const TYPE_NAMES = new Set([...Object.values(TYPE_ALIASES), 'number']);

/** `$type` against the stored values (views have turned int64/Decimal128/Double into numbers). */
function $type(selector: string, value: Any): (obj: Any) => boolean {
  const wanted = (Array.isArray(value) ? value : [value]).map((t: unknown) => {
    const name = typeof t === 'number' ? TYPE_ALIASES[t] : typeof t === 'string' && TYPE_NAMES.has(t) ? t : undefined;
    if (name === undefined) throw new CommandError('BadValue', `Unknown type name alias: ${String(t)}`);
    return name;
  });
  return (obj: Any) => {
    const doc = BsonValues.originalOf(obj);
    const direct = BsonValues.getPath(doc, selector);
    const candidates = [...BsonValues.valuesAtPath(doc, selector).filter((v) => v !== MISSING && v !== undefined), ...(Array.isArray(direct) ? [direct] : [])];
    return candidates.some((v) => wanted.some((t) => matchesBsonType(t, v)));
  };
}

/** The stand-in's `$type`, under a name of its own: mingo's context lets its built-in operators win. */
const TYPE_OPERATOR = '$__standInType';

/** Query operators added to mingo's. */
export const QUERY_CONTEXT = Context.init({ query: { [TYPE_OPERATOR]: $type } as unknown as Record<string, (selector: string, value: Any, options: Options) => (obj: Any) => boolean> });

/** Filter rewrites applied before mingo sees a filter. */
export const QueryOperators = {
  /**
   * Rewrites `{$regex, $options}` whose options hold `x` (PCRE extended: white
   * space and `#` comments in the pattern are ignored), which JavaScript's
   * RegExp cannot compile, and `$type` to the BSON-faithful operator; refuses
   * `$where`. Returns the input itself when nothing changes.
   * @throws CommandError 2 for `$where`, as a mongod with scripting disabled answers.
   */
  prepare<T>(filter: T): T {
    if (Array.isArray(filter)) {
      const mapped = filter.map((v: unknown) => QueryOperators.prepare(v));
      return (mapped.some((v, i) => v !== filter[i]) ? mapped : filter) as T;
    }
    if (!BsonValues.isPlainObject(filter)) return filter;
    if (typeof filter.$regex === 'string' && typeof filter.$options === 'string' && filter.$options.includes('x')) {
      return { ...filter, $regex: stripExtended(filter.$regex), $options: filter.$options.replaceAll('x', '') } as T;
    }
    let changed = false;
    const out: Document = {};
    for (const [key, value] of Object.entries(filter)) {
      if (key === '$where') {
        throw new CommandError('BadValue', '$where is not supported by the MongoDB stand-in (no server-side JavaScript): no globalScriptEngine in $where parsing');
      }
      if (key === '$expr') {
        out[key] = value; // aggregation expressions have their own $type
        continue;
      }
      const name = key === '$type' ? TYPE_OPERATOR : key;
      out[name] = QueryOperators.prepare(value);
      if (name !== key || out[name] !== value) changed = true;
    }
    return (changed ? out : filter) as T;
  },
};

function stripExtended(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += c + (pattern[i + 1] ?? '');
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
    } else if (c === '#') {
      while (i < pattern.length && pattern[i] !== '\n') i++;
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return out;
}
