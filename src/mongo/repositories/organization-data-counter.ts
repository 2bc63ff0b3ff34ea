import { inject, injectable } from 'tsyringe';
import { parseInput } from '../../parse-input.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { mongoId } from './mongo-inputs.js';
import { MongoConnection } from '../mongo-connection.js';
import { mongoModels } from '../mongo-models.js';
import { withMongoErrors } from '../map-mongo-error.js';

/**
 * Counts one organization's documents in every tenant collection, for
 * verifying an organization deletion. Walks all models (not a hand-kept
 * list), so a collection added to mongo-models.ts is verified too.
 */
@injectable()
export class OrganizationDataCounter {
  constructor(@inject(MongoConnection) private readonly mongo: MongoConnection) {}

  /**
   * Documents per collection name; collections with none are left out (empty = nothing left).
   * @throws TenantAccessError without a real AdminScope; ValidationError naming `organizationId`
   */
  async count(scope: AdminScope, organizationId: string): Promise<Readonly<Record<string, number>>> {
    assertAdminScope(scope);
    const org = parseInput(mongoId, organizationId, 'organizationId');
    const models = Object.values(mongoModels(this.mongo.connection));
    const counts = await withMongoErrors(
      () => Promise.all(models.map(async (m) => [m.collection.collectionName, await m.countDocuments({ organizationId: org }).exec()] as const)),
      this.mongo.redactedUrl,
    );
    return Object.fromEntries(counts.filter(([, n]) => n > 0));
  }
}
