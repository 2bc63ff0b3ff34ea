import type { Aggregate, MongooseQueryMiddleware, Query, Schema } from 'mongoose';
import { TenantAccessError } from '../errors.js';
import { assertAdminScope, type AdminScope } from '../tenancy/admin-scope.js';

/** Query operations whose filter must name exactly one organization. */
const FILTERED_QUERIES: MongooseQueryMiddleware[] = [
  'find',
  'findOne',
  'findOneAndUpdate',
  'findOneAndReplace',
  'findOneAndDelete',
  'updateOne',
  'updateMany',
  'replaceOne',
  'deleteOne',
  'deleteMany',
  'countDocuments',
  'distinct',
];

// Queries and aggregates an AdminScope has explicitly released from the rule.
// A WeakSet rather than a query option, so nothing extra travels to the driver
// and a released query object cannot be forged from plain data.
const released = new WeakSet<object>();

/**
 * Releases one query or aggregate from the organization rule, for admin work
 * that spans tenants (GDPR export/erasure of a user, reconcilers).
 *
 * @throws TenantAccessError when `scope` is not a real AdminScope.
 */
export function allowCrossTenant<Q extends object>(query: Q, scope: AdminScope): Q {
  assertAdminScope(scope);
  released.add(query);
  return query;
}

/** The single organization a filter is pinned to (`'x'` or `{ $eq: 'x' }`), else undefined. */
export function pinnedOrganization(filter: unknown): string | undefined {
  if (!filter || typeof filter !== 'object') return undefined;
  const value = (filter as Record<string, unknown>).organizationId;
  if (typeof value === 'string' && value.length > 0) return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const eq = (value as Record<string, unknown>).$eq;
    if (keys.length === 1 && typeof eq === 'string' && eq.length > 0) return eq;
  }
  return undefined;
}

function deny(model: string, operation: string, why: string): never {
  throw new TenantAccessError(`${model}.${operation}: ${why}`, { permission: 'organization' });
}

/**
 * Aggregation stages that only reshape the documents flowing in: they read no
 * other collection and write nothing. Every other stage (`$lookup`,
 * `$unionWith`, `$graphLookup`, `$out`, `$merge`, `$documents`, `$collStats`,
 * …, and any stage MongoDB adds later) is refused — an allow-list, so a stage
 * nobody reviewed cannot cross the boundary. `$facet` is allowed and its
 * sub-pipelines are checked the same way, at any depth.
 */
const LOCAL_STAGES: ReadonlySet<string> = new Set([
  '$match',
  '$project',
  '$addFields',
  '$set',
  '$unset',
  '$sort',
  '$limit',
  '$skip',
  '$group',
  '$count',
  '$unwind',
  '$sortByCount',
  '$bucket',
  '$bucketAuto',
  '$replaceRoot',
  '$replaceWith',
  '$sample',
  '$redact',
  '$setWindowFields',
  '$densify',
  '$fill',
]);

/** Update operators a tenant update may use, none of them on `organizationId`; any other `$` key is refused. */
const UPDATE_OPERATORS: ReadonlySet<string> = new Set([
  '$set',
  '$setOnInsert',
  '$unset',
  '$inc',
  '$mul',
  '$min',
  '$max',
  '$rename',
  '$currentDate',
  '$push',
  '$pull',
  '$pullAll',
  '$addToSet',
  '$pop',
  '$bit',
]);

/**
 * Pipeline-style update stages that can only add or remove the fields they
 * name. `$project`, `$replaceRoot` and `$replaceWith` can rewrite or drop
 * `organizationId` without naming it, so they are refused.
 */
const UPDATE_PIPELINE_STAGES: ReadonlySet<string> = new Set(['$set', '$addFields', '$unset']);

const touchesOrganization = (path: unknown): boolean => typeof path === 'string' && (path === 'organizationId' || path.startsWith('organizationId.'));

/** Every stage of `pipeline` (recursively through `$facet`) must be on the allow-list. */
function checkPipeline(model: string, pipeline: unknown, where: string): void {
  if (!Array.isArray(pipeline)) deny(model, 'aggregate', `${where} must be a pipeline`);
  for (const stage of pipeline as unknown[]) {
    const keys = stage && typeof stage === 'object' ? Object.keys(stage) : [];
    const name = keys[0];
    if (keys.length !== 1 || name === undefined) deny(model, 'aggregate', `${where}: a stage must have exactly one operator`);
    if (name === '$facet') {
      const facets = (stage as Record<string, unknown>).$facet;
      if (!facets || typeof facets !== 'object') deny(model, 'aggregate', `${where}: $facet must map names to pipelines`);
      for (const [facet, sub] of Object.entries(facets)) checkPipeline(model, sub, `${where} $facet.${facet}`);
      continue;
    }
    if (!LOCAL_STAGES.has(name))
      deny(model, 'aggregate', `${where}: stage ${name} is not allowed on tenant collections (it reads or writes outside the organization, or is unknown)`);
  }
}

/**
 * An update may not touch `organizationId` in any way: no operator on it, no
 * pipeline stage naming it or able to rewrite it, no unknown operator; a
 * replacement must carry the pinned organization.
 */
function checkUpdate(model: string, operation: string, organizationId: string, update: unknown, kind: 'update' | 'replacement'): void {
  if (update === undefined || update === null) return;
  if (kind === 'replacement') {
    if (Array.isArray(update) || pinnedOrganization(update) !== organizationId) deny(model, operation, 'the replacement must keep organizationId');
    return;
  }
  if (Array.isArray(update)) {
    for (const stage of update as unknown[]) {
      const [name, body] = stage && typeof stage === 'object' ? (Object.entries(stage)[0] ?? []) : [];
      if (name === undefined || !UPDATE_PIPELINE_STAGES.has(name)) deny(model, operation, `update pipeline stage ${String(name)} is not allowed`);
      const fields = name === '$unset' ? [body].flat() : body && typeof body === 'object' ? Object.keys(body) : [body];
      if (fields.some(touchesOrganization)) deny(model, operation, `${name} on organizationId`);
    }
    return;
  }
  if (typeof update !== 'object') deny(model, operation, 'the update must be an object or a pipeline');
  for (const [key, target] of Object.entries(update)) {
    // A plain field is an implicit $set (mongoose wraps it).
    if (!key.startsWith('$')) {
      if (touchesOrganization(key)) deny(model, operation, 'the update changes organizationId');
      continue;
    }
    if (!UPDATE_OPERATORS.has(key)) deny(model, operation, `update operator ${key} is not allowed`);
    if (!target || typeof target !== 'object') continue;
    const paths = Object.keys(target);
    // $rename names the new path as its value: renaming something *to* organizationId moves the document too.
    if (key === '$rename') paths.push(...Object.values(target).map(String));
    if (paths.some(touchesOrganization)) deny(model, operation, `${key} on organizationId`);
  }
}

const REPLACEMENTS: ReadonlySet<string> = new Set(['replaceOne', 'findOneAndReplace']);
const BULK_KINDS: ReadonlySet<string> = new Set(['insertOne', 'updateOne', 'updateMany', 'replaceOne', 'deleteOne', 'deleteMany']);

/**
 * Mongoose plugin for tenant collections: every query, update, delete, count,
 * distinct and aggregate must be pinned to a single `organizationId` (first
 * `$match` stage for aggregates), or it throws TenantAccessError in a pre hook
 * — before anything is sent to the server. `estimatedDocumentCount` cannot be
 * filtered and is always refused.
 */
export function tenantPlugin(schema: Schema): void {
  // document: false — `doc.updateOne()` / `doc.deleteOne()` run as queries and are checked there.
  schema.pre(FILTERED_QUERIES, { document: false, query: true }, function (this: Query<unknown, unknown>) {
    const model = this.model.modelName;
    const operation = (this as unknown as { op?: string }).op ?? 'query';
    if (released.has(this)) return;
    const organizationId = pinnedOrganization(this.getFilter());
    if (organizationId === undefined) deny(model, operation, 'the filter must pin organizationId to one value');
    checkUpdate(model, operation, organizationId, this.getUpdate(), REPLACEMENTS.has(operation) ? 'replacement' : 'update');
  });

  schema.pre('estimatedDocumentCount', function (this: Query<unknown, unknown>) {
    if (released.has(this)) return;
    deny(this.model.modelName, 'estimatedDocumentCount', 'counts every organization; use countDocuments with organizationId');
  });

  schema.pre('aggregate', function (this: Aggregate<unknown>) {
    if (released.has(this)) return;
    const model = this.model().modelName;
    const first = this.pipeline()[0] as Record<string, unknown> | undefined;
    if (!first || pinnedOrganization(first.$match) === undefined) {
      deny(model, 'aggregate', 'the first stage must be a $match pinning organizationId to one value');
    }
    checkPipeline(model, this.pipeline(), 'pipeline');
  });

  // `doc.save()` on a loaded document updates by _id alone; at least it may not move the document.
  schema.pre('save', function (this: { isNew: boolean; isModified(path: string): boolean; constructor: { modelName?: string } }) {
    if (!this.isNew && this.isModified('organizationId')) deny(this.constructor.modelName ?? 'model', 'save', 'organizationId cannot change');
  });

  schema.pre('insertMany', function (this: { modelName: string }, docs: unknown) {
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      if (pinnedOrganization(doc) === undefined) deny(this.modelName, 'insertMany', 'every document needs organizationId');
    }
  });

  schema.pre('bulkWrite', function (this: { modelName: string }, ops: readonly Record<string, unknown>[]) {
    for (const op of ops) {
      const entries = Object.entries(op);
      const [kind, body] = entries[0] ?? [];
      const b = (body ?? {}) as Record<string, unknown>;
      if (entries.length !== 1 || kind === undefined || !BULK_KINDS.has(kind)) deny(this.modelName, 'bulkWrite', `operation ${String(kind)} is not allowed`);
      if (kind === 'insertOne') {
        if (pinnedOrganization(b.document) === undefined) deny(this.modelName, 'bulkWrite', 'insertOne needs organizationId');
        continue;
      }
      const organizationId = pinnedOrganization(b.filter);
      if (organizationId === undefined) deny(this.modelName, 'bulkWrite', `${kind} filter must pin organizationId to one value`);
      if (kind === 'replaceOne') checkUpdate(this.modelName, 'bulkWrite', organizationId, b.replacement ?? null, 'replacement');
      else checkUpdate(this.modelName, 'bulkWrite', organizationId, b.update, 'update');
    }
  });
}
