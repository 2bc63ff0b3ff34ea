import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { PostgresConnection } from '../postgres-connection.js';
import { scopedPool } from '../with-scope.js';
import { noRows } from './no-rows.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';
import { withUserScope } from './with-user-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { jsonObjectInput } from '../../input-policy.js';

export const CONSENT_KINDS = ['terms', 'privacy', 'marketing', 'age_confirmation', 'guardian'] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];

export interface ConsentEvent {
  readonly id: string;
  readonly userId: string;
  readonly kind: ConsentKind;
  readonly version: string | null;
  readonly granted: boolean;
  readonly source: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly recordedAt: Date;
}

const eventRow = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    kind: z.enum(CONSENT_KINDS),
    version: z.string().nullable(),
    granted: z.boolean(),
    source: z.string(),
    details: z.record(z.string(), z.unknown()),
    recorded_at: z.date(),
  })
  .transform((r): ConsentEvent => ({
    id: r.id,
    userId: r.user_id,
    kind: r.kind,
    version: r.version,
    granted: r.granted,
    source: r.source,
    details: r.details,
    recordedAt: r.recorded_at,
  }));
const COLUMNS = sql.fragment`id, user_id, kind, version, granted, source, details, recorded_at`;

export const consentInputSchema = z
  .object({
    kind: z.enum(CONSENT_KINDS),
    /** The document version agreed to; required for terms, privacy and marketing grants. */
    version: z.string().trim().min(1).max(50).optional(),
    /** false records a withdrawal. */
    granted: z.boolean(),
    source: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,49}$/, 'must be a short lowercase word, e.g. "signup"')
      .default('unspecified'),
    /** No personal data of third parties (for guardian consent: method and reference only). */
    details: jsonObjectInput(4096).default({}),
  })
  .strict()
  .refine((c) => !(c.granted && ['terms', 'privacy', 'marketing'].includes(c.kind) && c.version === undefined), {
    path: ['version'],
    message: 'is required when granting terms, privacy or marketing consent',
  });
export type ConsentInput = z.input<typeof consentInputSchema>;

/**
 * Consent history (`consent_events`, append-only) and the current consent on
 * `users` (version + time pairs, `age_confirmed_at`), kept in step: `record`
 * appends the event and updates the user's current columns in one
 * transaction. Everything runs on the application role in the user's own
 * scope (row-level security: their rows only) — consent is written at sign-up,
 * before any tenant exists, in the new account's transaction (`recordWithin`).
 */
@injectable()
@accessControlled
export class ConsentRepository {
  constructor(@inject(PostgresConnection) private readonly postgres: PostgresConnection) {}

  /**
   * Appends a consent event and updates the current consent columns.
   * @throws ValidationError naming the field; NotFoundError for an unknown user
   */
  @declareAccess({ preTenant: "sign-up: the account and its first organization do not exist yet; ConsentService records the user's own consent" })
  async record(userId: string, input: ConsentInput): Promise<ConsentEvent> {
    const id = parseInput(uuidInput, userId, 'userId');
    const d = parseInput(consentInputSchema, input);
    return withPostgresErrors(() => scopedPool(this.postgres.appPool, { userId: id }).transaction((tx) => this.#record(tx, id, d)));
  }

  /**
   * {@link record} in the caller's transaction `tx`, which must be in the user's
   * scope: sign-up records the consents given with the new user (`ConsentService.createUserWith`).
   * @throws ValidationError naming the field; NotFoundError for an unknown user
   */
  @declareAccess({ preTenant: "sign-up: the account and its first organization do not exist yet; ConsentService records the user's own consent" })
  async recordWithin(tx: DatabaseTransactionConnection, userId: string, input: ConsentInput): Promise<ConsentEvent> {
    const id = parseInput(uuidInput, userId, 'userId');
    const d = parseInput(consentInputSchema, input);
    return this.#record(tx, id, d);
  }

  async #record(tx: DatabaseTransactionConnection, id: string, d: z.output<typeof consentInputSchema>): Promise<ConsentEvent> {
    const exists = await tx.maybeOneFirst(sql.type(z.object({ id: z.uuid() }))`SELECT id FROM users WHERE id = ${id} FOR UPDATE`);
    if (exists === null) throw new NotFoundError('user', id);
    // clock_timestamp(), not the transaction's start: the consents of one sign-up share a transaction and keep their order in the history.
    const event = await tx.one(sql.type(eventRow)`
      INSERT INTO consent_events (user_id, kind, version, granted, source, details, recorded_at)
      VALUES (${id}, ${d.kind}, ${d.version ?? null}, ${d.granted}, ${d.source}, ${sql.jsonb(d.details)}, clock_timestamp())
      RETURNING ${COLUMNS}`);
    const current = currentColumns(d.kind, d.granted, d.version ?? null);
    if (current) await tx.query(sql.type(noRows)`UPDATE users SET ${current} WHERE id = ${id}`);
    return event;
  }

  /** The user's consent history, oldest first (user-scoped: row-level security allows only their own). */
  @declareAccess({ preTenant: "sign-up: the account and its first organization do not exist yet; ConsentService reads the user's own history" })
  async history(userId: string): Promise<readonly ConsentEvent[]> {
    const id = parseInput(uuidInput, userId, 'userId');
    return withUserScope(this.postgres.appPool, id, (tx) =>
      tx.any(sql.type(eventRow)`SELECT ${COLUMNS} FROM consent_events WHERE user_id = ${id} ORDER BY recorded_at, id`),
    );
  }
}

/** The `users` columns that hold the current state of one consent kind (guardian consent has none: only history). */
function currentColumns(kind: ConsentKind, granted: boolean, version: string | null) {
  const pair = (versionColumn: string, atColumn: string) =>
    granted
      ? sql.fragment`${sql.identifier([versionColumn])} = ${version}, ${sql.identifier([atColumn])} = now()`
      : sql.fragment`${sql.identifier([versionColumn])} = NULL, ${sql.identifier([atColumn])} = NULL`;
  switch (kind) {
    case 'terms':
      return pair('terms_version', 'terms_accepted_at');
    case 'privacy':
      return pair('privacy_version', 'privacy_accepted_at');
    case 'marketing':
      return pair('marketing_consent_version', 'marketing_consent_at');
    case 'age_confirmation':
      return granted ? sql.fragment`age_confirmed_at = coalesce(age_confirmed_at, now())` : sql.fragment`age_confirmed_at = NULL`;
    case 'guardian':
      return undefined;
  }
}
