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

/** An update may not move a document to another organization. */
function checkUpdate(model: string, operation: string, organizationId: string, update: unknown): void {
  if (!update || typeof update !== 'object' || Array.isArray(update)) return;
  const u = update as Record<string, unknown>;
  for (const target of [u, u.$set, u.$setOnInsert]) {
    if (!target || typeof target !== 'object') continue;
    const value = (target as Record<string, unknown>).organizationId;
    if (value !== undefined && value !== organizationId) deny(model, operation, 'the update changes organizationId');
  }
  for (const op of ['$unset', '$rename', '$inc']) {
    const target = u[op];
    if (target && typeof target === 'object' && 'organizationId' in target) deny(model, operation, `${op} on organizationId`);
  }
}

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
    checkUpdate(model, operation, organizationId, this.getUpdate());
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
    // $lookup/$unionWith read other collections without this plugin's check.
    for (const stage of this.pipeline()) {
      if ('$lookup' in stage || '$unionWith' in stage || '$graphLookup' in stage) {
        deny(model, 'aggregate', 'cross-collection stages are not allowed on tenant collections');
      }
    }
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
      const [kind, body] = Object.entries(op)[0] ?? [];
      const b = (body ?? {}) as Record<string, unknown>;
      if (kind === 'insertOne') {
        if (pinnedOrganization(b.document) === undefined) deny(this.modelName, 'bulkWrite', 'insertOne needs organizationId');
        continue;
      }
      const organizationId = pinnedOrganization(b.filter);
      if (organizationId === undefined) deny(this.modelName, 'bulkWrite', `${String(kind)} filter must pin organizationId to one value`);
      checkUpdate(this.modelName, 'bulkWrite', organizationId, b.update ?? b.replacement);
    }
  });
}
