import type { Document } from 'bson';
import { BsonValues } from './bson-values.js';
import { CommandError } from './command-error.js';

/** A find projection split into what mingo applies and what the stand-in applies itself. */
export interface ProjectionPlan {
  /** Handed to mingo; empty means "the whole document". */
  readonly rest: Document;
  readonly slices: ReadonlyArray<readonly [path: string, spec: unknown]>;
  /** The array field of a positional `field.$` projection. */
  readonly positional: string | undefined;
}

/**
 * The parts of find's projection language mingo gets wrong (MongoDB manual,
 * "Projection Restrictions", "$slice (projection)", "$ (projection)"):
 * inclusion and exclusion cannot mix (31254 / 31253, `_id` excepted); a
 * `$slice`-only projection keeps every other field; `field.$` returns the
 * first array element the query matched.
 */
export const FindProjection = {
  /** @throws CommandError 31253/31254 for mixed projections, 2 for a second positional. */
  plan(projection: Document): ProjectionPlan {
    let mode: 'inclusion' | 'exclusion' | undefined;
    const rest: Document = {};
    const slices: Array<[string, unknown]> = [];
    let positional: string | undefined;
    for (const [path, spec] of Object.entries(projection)) {
      if (BsonValues.isPlainObject(spec) && '$slice' in spec && Object.keys(spec).length === 1) {
        slices.push([path, spec.$slice]);
        continue;
      }
      if (path.endsWith('.$')) {
        if (positional !== undefined) throw new CommandError('BadValue', 'Cannot specify more than one positional projection per query.');
        positional = path.slice(0, -2);
        rest[positional] = 1;
      } else {
        rest[path] = spec;
      }
      if (path === '_id') continue;
      const kind = spec === 0 || spec === false ? 'exclusion' : 'inclusion';
      if (mode !== undefined && mode !== kind) {
        if (kind === 'exclusion') throw new CommandError('Location31254', `Cannot do exclusion on field ${path} in inclusion projection`);
        throw new CommandError('Location31253', `Cannot do inclusion on field ${path} in exclusion projection`);
      }
      mode = kind;
    }
    if (mode === 'inclusion') for (const [path] of slices) rest[path] = 1;
    return { rest, slices, positional };
  },

  /** Applies `$slice` and the positional projection to mingo's result. */
  finish(doc: Document, projected: Document, plan: ProjectionPlan, matches: (candidate: Document) => boolean): Document {
    for (const [path, spec] of plan.slices) {
      const value = BsonValues.getPath(projected, path);
      if (Array.isArray(value)) BsonValues.setPath(projected, path, slice(value, spec));
    }
    if (plan.positional !== undefined) {
      const path = plan.positional;
      const array = BsonValues.getPath(doc, path);
      const index = Array.isArray(array) ? array.findIndex((element) => matches(withPath(doc, path, [element]))) : -1;
      if (index < 0) {
        throw new CommandError(
          'BadValue',
          "Executor error during find command :: caused by :: positional operator '.$' couldn't find a matching element in the array",
        );
      }
      BsonValues.setPath(projected, path, [(array as unknown[])[index]]);
    }
    return projected;
  },
};

function slice(array: unknown[], spec: unknown): unknown[] {
  if (Array.isArray(spec)) {
    const [skip, limit] = spec.map(Number) as [number, number];
    const start = skip < 0 ? Math.max(0, array.length + skip) : skip;
    return array.slice(start, start + limit);
  }
  const n = Number(spec);
  return n >= 0 ? array.slice(0, n) : array.slice(Math.max(0, array.length + n));
}

function withPath(doc: Document, path: string, value: unknown): Document {
  const copy = BsonValues.clone(doc);
  BsonValues.setPath(copy, path, value);
  return copy;
}
