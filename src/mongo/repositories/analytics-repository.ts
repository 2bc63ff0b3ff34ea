import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { parseInput } from '../../parse-input.js';
import { assertAdminScope, type AdminScope } from '../../tenancy/admin-scope.js';
import { requireTenantContext } from '../../tenancy/require-tenant-context.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { mongoId } from './mongo-inputs.js';
import { MongoConnection } from '../mongo-connection.js';
import { MongoAccess } from './mongo-access.js';
import type { AnalyticsEventDocument } from '../mongo-models.js';
import { allowCrossTenant } from '../tenant-plugin.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { jsonObjectInput } from '../../input-policy.js';

export interface AnalyticsEvent {
  readonly id: string;
  readonly organizationId: string;
  readonly userId: string | null;
  readonly type: string;
  readonly properties: Readonly<Record<string, unknown>>;
  readonly createdAt: Date;
}

export interface RecordAnalyticsEventInput {
  /** e.g. `conversation.created`. */
  readonly type: string;
  readonly properties?: Record<string, unknown>;
  /** Default: the context's user; `null` for an event of the organization itself. */
  readonly userId?: string | null;
  /** Default: now. */
  readonly at?: Date;
}

export interface DailyCount {
  /** `YYYY-MM-DD` in UTC. */
  readonly day: string;
  readonly count: number;
}

const recordSchema = z
  .object({
    type: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[a-zA-Z0-9_.:-]+$/, 'must be letters, digits, ".", "_", ":" or "-"'),
    // Field names starting with "$" or containing "." are operators / paths to MongoDB.
    properties: jsonObjectInput(16_384, { mongoKeys: true, anyValues: true }).default({}),
    userId: mongoId.nullable().optional(),
    at: z.date().optional(),
  })
  .strict();
const countSchema = z
  .object({ type: z.string().min(1).max(100).optional(), from: z.date(), to: z.date() })
  .strict()
  .refine((v) => v.from < v.to, { path: ['to'], message: 'must be after from' });

export function toAnalyticsEvent(r: AnalyticsEventDocument): AnalyticsEvent {
  return { id: r._id, organizationId: r.organizationId, userId: r.userId ?? null, type: r.type, properties: r.properties, createdAt: r.createdAt };
}

/** Product analytics events; expired by a TTL index after `retention.analyticsDays`. */
@injectable()
@accessControlled
export class AnalyticsRepository {
  readonly #db: MongoAccess;

  constructor(@inject(MongoConnection) mongo: MongoConnection) {
    this.#db = new MongoAccess(mongo);
  }

  /** @throws ValidationError */
  @declareAccess({ requires: 'analytics:write' })
  async record(ctx: TenantContext, input: RecordAnalyticsEventInput): Promise<AnalyticsEvent> {
    const { organizationId, userId } = requireTenantContext(ctx);
    const data = parseInput(recordSchema, input);
    return this.#db.run(async () => {
      const doc = await this.#db.models.AnalyticsEvent.create({
        _id: randomUUID(),
        organizationId,
        userId: data.userId === undefined ? userId : data.userId,
        type: data.type,
        properties: data.properties,
        createdAt: data.at ?? new Date(),
      });
      return toAnalyticsEvent(doc.toObject());
    });
  }

  /** Events per UTC day in [from, to), optionally of one type; days without events are absent. @throws ValidationError */
  @declareAccess({ requires: 'analytics:read' })
  async countPerDay(ctx: TenantContext, options: { type?: string; from: Date; to: Date }): Promise<DailyCount[]> {
    const { organizationId } = requireTenantContext(ctx);
    const o = parseInput(countSchema, options);
    const match: Record<string, unknown> = { organizationId, createdAt: { $gte: o.from, $lt: o.to } };
    if (o.type) match.type = o.type;
    const rows = await this.#db.run(() =>
      this.#db.models.AnalyticsEvent.aggregate<{ _id: string; count: number }>([
        { $match: match },
        { $group: { _id: { $dateToString: { format: '%Y-%m-%d', date: '$createdAt' } }, count: { $sum: 1 } } },
        { $sort: { _id: 1 } },
      ]).exec(),
    );
    return rows.map((r) => ({ day: r._id, count: r.count }));
  }

  // ---- admin ----

  /** Every event about `userId` in every organization, streamed. @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  listAllForUser(scope: AdminScope, userId: string): AsyncIterable<AnalyticsEvent> {
    assertAdminScope(scope);
    const id = parseInput(mongoId, userId, 'userId');
    const models = this.#db.models;
    return this.#db.iterate(async function* () {
      const cursor = allowCrossTenant(
        models.AnalyticsEvent.find({ userId: id }).sort({ organizationId: 1, createdAt: 1 }).lean<AnalyticsEventDocument[]>(),
        scope,
      ).cursor();
      for await (const row of cursor) yield toAnalyticsEvent(row);
    });
  }

  /** @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async deleteAllForUser(scope: AdminScope, userId: string): Promise<number> {
    assertAdminScope(scope);
    const id = parseInput(mongoId, userId, 'userId');
    return this.#db.run(async () => (await allowCrossTenant(this.#db.models.AnalyticsEvent.deleteMany({ userId: id }), scope).exec()).deletedCount);
  }

  /** @throws TenantAccessError without a real AdminScope */
  @declareAccess({ adminScope: true })
  async deleteAllForOrganization(scope: AdminScope, organizationId: string): Promise<number> {
    assertAdminScope(scope);
    const org = parseInput(mongoId, organizationId, 'organizationId');
    return this.#db.run(async () => (await this.#db.models.AnalyticsEvent.deleteMany({ organizationId: org }).exec()).deletedCount);
  }
}
