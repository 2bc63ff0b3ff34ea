import { randomUUID } from 'node:crypto';
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { PostgresConnection } from '../postgres-connection.js';
import { preparedStatement } from '../prepared-statement.js';
import { withScope } from '../with-scope.js';
import { withTenant } from '../with-tenant.js';
import { type KeysetPage, type KeysetPageInput, parseKeysetPage, toKeysetPage } from './keyset-page.js';
import { lockoutInput } from './lockout-input.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { AuditRepository, type AuditEventInput } from './audit-repository.js';
import { avatarUrlInput, languageInput, personNameInput, timezoneInput, usernameInput } from './profile-inputs.js';
import { ipAddressSchema } from '../../ip-address.js';

export const USER_STATUSES = ['pending_verification', 'active', 'suspended', 'locked', 'deleted'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/** A user as repositories return it. The password hash is only on {@link UserCredentials}. */
export interface UserRecord {
  readonly id: string;
  readonly email: string;
  readonly displayName: string | null;
  /** Optional, unique case-insensitively, stored lowercase; signs in wherever an email does (`PasswordSignIn.login`). */
  readonly username: string | null;
  readonly firstName: string | null;
  readonly lastName: string | null;
  /** An https URL. */
  readonly avatarUrl: string | null;
  /** An IANA time zone name, e.g. `Europe/Paris`. */
  readonly timezone: string | null;
  /** A BCP 47 language tag in canonical form, e.g. `en-US`. */
  readonly language: string | null;
  readonly status: UserStatus;
  readonly emailVerifiedAt: Date | null;
  readonly failedLoginCount: number;
  readonly lockedUntil: Date | null;
  readonly mustChangePassword: boolean;
  readonly lastLoginAt: Date | null;
  readonly lastLoginIp: string | null;
  readonly termsVersion: string | null;
  readonly termsAcceptedAt: Date | null;
  readonly privacyVersion: string | null;
  readonly privacyAcceptedAt: Date | null;
  readonly marketingConsentVersion: string | null;
  readonly marketingConsentAt: Date | null;
  readonly ageConfirmedAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
}

/** What the login flow needs: the user plus the stored bcrypt hash. */
export interface UserCredentials {
  readonly user: UserRecord;
  readonly passwordHash: string | null;
}

const shape = {
  id: z.uuid(),
  email: z.string(),
  display_name: z.string().nullable(),
  username: z.string().nullable(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  avatar_url: z.string().nullable(),
  timezone: z.string().nullable(),
  language: z.string().nullable(),
  status: z.enum(USER_STATUSES),
  email_verified_at: z.date().nullable(),
  failed_login_count: z.number(),
  locked_until: z.date().nullable(),
  must_change_password: z.boolean(),
  last_login_at: z.date().nullable(),
  last_login_ip: z.string().nullable(),
  terms_version: z.string().nullable(),
  terms_accepted_at: z.date().nullable(),
  privacy_version: z.string().nullable(),
  privacy_accepted_at: z.date().nullable(),
  marketing_consent_version: z.string().nullable(),
  marketing_consent_at: z.date().nullable(),
  age_confirmed_at: z.date().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
  deleted_at: z.date().nullable(),
};
type RawRow = z.infer<z.ZodObject<typeof shape>>;

function toRecord(r: RawRow): UserRecord {
  return {
    id: r.id,
    email: r.email,
    displayName: r.display_name,
    username: r.username,
    firstName: r.first_name,
    lastName: r.last_name,
    avatarUrl: r.avatar_url,
    timezone: r.timezone,
    language: r.language,
    status: r.status,
    emailVerifiedAt: r.email_verified_at,
    failedLoginCount: r.failed_login_count,
    lockedUntil: r.locked_until,
    mustChangePassword: r.must_change_password,
    lastLoginAt: r.last_login_at,
    lastLoginIp: r.last_login_ip,
    termsVersion: r.terms_version,
    termsAcceptedAt: r.terms_accepted_at,
    privacyVersion: r.privacy_version,
    privacyAcceptedAt: r.privacy_accepted_at,
    marketingConsentVersion: r.marketing_consent_version,
    marketingConsentAt: r.marketing_consent_at,
    ageConfirmedAt: r.age_confirmed_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deletedAt: r.deleted_at,
  };
}

const recordRow = z.object(shape).transform(toRecord);
const credentialsRow = z
  .object({ ...shape, password_hash: z.string().nullable() })
  .transform((r): UserCredentials => ({ user: toRecord(r), passwordHash: r.password_hash }));
const listRow = z.object({ ...shape, sort_us: z.number() }).transform((r) => ({ item: toRecord(r), position: { us: r.sort_us, id: r.id } }));
const lockoutRow = z
  .object({ failed_login_count: z.number(), locked_until: z.date().nullable() })
  .transform((r) => ({ failedLoginCount: r.failed_login_count, lockedUntil: r.locked_until }));

const COLUMNS = sql.fragment`u.id, u.email::text AS email, u.display_name, u.username::text AS username, u.first_name, u.last_name,
  u.avatar_url, u.timezone, u.language, u.status::text AS status, u.email_verified_at, u.failed_login_count,
  u.locked_until, u.must_change_password, u.last_login_at, host(u.last_login_ip) AS last_login_ip, u.terms_version, u.terms_accepted_at,
  u.privacy_version, u.privacy_accepted_at, u.marketing_consent_version, u.marketing_consent_at, u.age_confirmed_at,
  u.created_at, u.updated_at, u.deleted_at`;

/**
 * Every sign-in starts here: a named statement on the hot-path pool (docs/architecture.md, "Hot paths"). COLUMNS has no parameters, so its text is plain SQL.
 * Exported (not from the package) for the benchmarks, whose baselines send this same text.
 */
export const CREDENTIALS_BY_EMAIL = preparedStatement(
  'pd_user_credentials_by_email',
  `SELECT ${COLUMNS.sql}, u.password_hash FROM platform_auth.user_credentials($1) u`,
  credentialsRow,
);
/** Sign-in by username (PasswordSignIn): the same hot path as by email. */
const CREDENTIALS_BY_USERNAME = preparedStatement(
  'pd_user_credentials_by_username',
  `SELECT ${COLUMNS.sql}, u.password_hash FROM platform_auth.user_credentials_by_username($1) u`,
  credentialsRow,
);
/** Every sign-in re-reads the user after creating its session (the suspension race check): hot path too. */
/** A tenant read (PostgresConnection.tenantQuery): $1 organization, $2/$3 the keyset position or nulls, $4 the limit. Exported for the benchmarks' bare baseline. */
export const USERS_FOR_ORGANIZATION = preparedStatement(
  'pd_users_for_organization_v2',
  `SELECT ${COLUMNS.sql}, (extract(epoch FROM u.created_at) * 1000000)::int8 AS sort_us
   FROM users u JOIN memberships m ON m.user_id = u.id AND m.organization_id = $1::uuid
   WHERE u.deleted_at IS NULL
     AND ($2::int8 IS NULL OR (u.created_at, u.id) > (to_timestamp(0) + $2::int8 * interval '1 microsecond', $3::uuid))
   ORDER BY u.created_at, u.id
   LIMIT $4::int4`,
  listRow,
);

/** $1 user, $2 the client's ip or null. */
const RECORD_SUCCESSFUL_LOGIN = {
  name: 'pd_user_record_successful_login',
  text: `UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = now(), last_login_ip = $2::inet
   WHERE id = $1::uuid AND (locked_until IS NULL OR locked_until <= now())`,
} as const;

const USER_BY_ID = preparedStatement('pd_user_by_id', `SELECT ${COLUMNS.sql} FROM platform_auth.user_by_id($1) u`, recordRow);

const emailInput = z
  .email()
  .max(320)
  .transform((e) => e.toLowerCase());
const versionInput = z.string().min(1).max(50);
const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const ipInput = ipAddressSchema;

const createInput = z
  .object({
    email: emailInput,
    displayName: z.string().trim().min(1).max(200).optional(),
    /** A bcrypt hash from PasswordHasher; omit for passwordless (OAuth-only) accounts. */
    passwordHash: z.string().regex(BCRYPT_HASH, 'must be a bcrypt hash').optional(),
    status: z.enum(USER_STATUSES).default('pending_verification'),
    termsVersion: versionInput.optional(),
    privacyVersion: versionInput.optional(),
    marketingConsentVersion: versionInput.optional(),
    /** COPPA: the person confirmed they meet the minimum age. */
    ageConfirmed: z.boolean().default(false),
    /** The password must be changed at the first sign-in (e.g. a seeded administrator's generated one). */
    mustChangePassword: z.boolean().default(false),
  })
  .strict();
export type CreateUserInput = z.input<typeof createInput>;

const profileInput = z
  .object({
    displayName: z.string().trim().min(1).max(200).nullable().optional(),
    /** `null` withdraws marketing consent. */
    marketingConsentVersion: versionInput.nullable().optional(),
    /** `null` removes it. @see usernameInput for the rule */
    username: usernameInput.nullable().optional(),
    firstName: personNameInput.nullable().optional(),
    lastName: personNameInput.nullable().optional(),
    avatarUrl: avatarUrlInput.nullable().optional(),
    timezone: timezoneInput.nullable().optional(),
    language: languageInput.nullable().optional(),
  })
  .strict();
/** Each field: omitted keeps it, `null` clears it. */
export type UpdateUserProfileInput = z.input<typeof profileInput>;

/** The self-service columns `updateProfile` writes as given (field → column). */
const PROFILE_COLUMNS = [
  ['displayName', 'display_name'],
  ['username', 'username'],
  ['firstName', 'first_name'],
  ['lastName', 'last_name'],
  ['avatarUrl', 'avatar_url'],
  ['timezone', 'timezone'],
  ['language', 'language'],
] as const satisfies ReadonlyArray<readonly [keyof z.output<typeof profileInput>, string]>;
/** Built once: parsed in every sign-in (a z.object built per call is compiled again on its first parse). */
const successfulLoginInput = z.object({ userId: z.uuid(), ip: ipInput.optional() });
const statusInput = z.object({ userId: z.uuid(), status: z.enum(USER_STATUSES) });

/**
 * Users (a global table: one user spans organizations).
 *
 * Everything runs as the application role (docs/security.md, "Least privilege
 * at run time"): lookups by email or id call the `platform_auth` functions;
 * sign-up and lockout/login bookkeeping run in the user's own scope; reading
 * and editing one's own profile and listing the members of the current
 * organization are tenant work.
 */
@injectable()
@accessControlled
export class UserRepository {
  constructor(
    @inject(PostgresConnection) private readonly postgres: PostgresConnection,
    @inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /**
   * Signs a user up. Consent versions are stamped with the current time.
   * @throws ValidationError naming the invalid field (`email`, `passwordHash`, `status`, …)
   * @throws ConflictError `users_email_key` when the email (case-insensitively) is taken
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async create(input: CreateUserInput): Promise<UserRecord> {
    const [user] = await this.createWith(input, async () => undefined);
    return user;
  }

  /**
   * {@link create}, plus `within(tx, user)` in the same transaction: what must
   * exist together with the new user or not at all — consents, the verified
   * status, an OAuth identity, the first organization and its audit event
   * (`AccountCreation`, `OAuthSignIn`). `tx` starts in the user's own scope;
   * an error in `within` rolls the user back, so a failure or a crash leaves
   * no half-created account and no email taken by one.
   * @throws ValidationError naming the invalid field; ConflictError `users_email_key`; whatever `within` throws
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async createWith<T>(input: CreateUserInput, within: (tx: DatabaseTransactionConnection, user: UserRecord) => Promise<T>): Promise<[UserRecord, T]> {
    const d = parseInput(createInput, input);
    // The id is chosen here so the insert can run in that user's own scope (sql/0070).
    const id = randomUUID();
    return withScope(this.postgres.appPool, { userId: id }, async (tx) => {
      const user = await tx.one(sql.type(recordRow)`
        WITH u AS (
          INSERT INTO users (id, email, display_name, password_hash, status, password_changed_at,
                             terms_version, terms_accepted_at, privacy_version, privacy_accepted_at,
                             marketing_consent_version, marketing_consent_at, age_confirmed_at, must_change_password)
          VALUES (${id}, ${d.email}, ${d.displayName ?? null}, ${d.passwordHash ?? null}, ${d.status},
                  ${d.passwordHash === undefined ? null : sql.fragment`now()`},
                  ${d.termsVersion ?? null}, ${d.termsVersion === undefined ? null : sql.fragment`now()`},
                  ${d.privacyVersion ?? null}, ${d.privacyVersion === undefined ? null : sql.fragment`now()`},
                  ${d.marketingConsentVersion ?? null}, ${d.marketingConsentVersion === undefined ? null : sql.fragment`now()`},
                  ${d.ageConfirmed ? sql.fragment`now()` : null}, ${d.mustChangePassword})
          RETURNING *)
        SELECT ${COLUMNS} FROM u`);
      return [user, await within(tx, user)];
    });
  }

  /**
   * The user with this email (case-insensitive) and their password hash, for login.
   * @throws ValidationError naming `email`
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async findCredentialsByEmail(email: string): Promise<UserCredentials | undefined> {
    const value = parseInput(emailInput, email, 'email');
    return this.postgres.preparedOne(CREDENTIALS_BY_EMAIL, [value]);
  }

  /**
   * The user with this username (case-insensitive) and their password hash, for login.
   * @throws ValidationError naming `username`
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async findCredentialsByUsername(username: string): Promise<UserCredentials | undefined> {
    const value = parseInput(usernameInput, username, 'username');
    return this.postgres.preparedOne(CREDENTIALS_BY_USERNAME, [value]);
  }

  /** @throws ValidationError naming `id` */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async getById(id: string): Promise<UserRecord | undefined> {
    const userId = parseInput(uuidInput, id, 'id');
    return this.postgres.preparedOne(USER_BY_ID, [userId]);
  }

  /** The current user. @throws NotFoundError when the user no longer exists */
  @declareAccess({ ownAccount: true })
  async getCurrent(ctx: TenantContext): Promise<UserRecord> {
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM users u WHERE u.id = ${ctx.userId}`),
    );
    if (!row) throw new NotFoundError('user', ctx.userId);
    return row;
  }

  /**
   * Self-service profile edit of the current user: display name, marketing consent, username, first and
   * last name, avatar URL, time zone, language. Omitted fields keep their value, `null` clears one.
   * @throws ValidationError naming the invalid field (`timezone`: not an IANA zone; `language`: not a BCP 47 tag;
   *   `avatarUrl`: not https; `username`: see {@link usernameInput})
   * @throws ConflictError `users_username_key` when the username is taken (case-insensitively)
   * @throws NotFoundError when the user is gone or deleted
   */
  @declareAccess({ ownAccount: true })
  async updateProfile(ctx: TenantContext, input: UpdateUserProfileInput): Promise<UserRecord> {
    const d = parseInput(profileInput, input);
    const assignments = [
      ...PROFILE_COLUMNS.filter(([field]) => d[field] !== undefined).map(([field, column]) => sql.fragment`${sql.identifier([column])} = ${d[field] ?? null}`),
      ...(d.marketingConsentVersion === undefined
        ? []
        : [
            sql.fragment`marketing_consent_version = ${d.marketingConsentVersion}`,
            sql.fragment`marketing_consent_at = ${d.marketingConsentVersion === null ? null : sql.fragment`now()`}`,
          ]),
    ];
    // Nothing to change still answers with the row (and NotFoundError for a deleted user): a no-op SET.
    const set = assignments.length === 0 ? sql.fragment`display_name = display_name` : sql.join(assignments, sql.fragment`, `);
    const row = await withTenant(this.postgres.appPool, ctx, (tx) =>
      tx.maybeOne(sql.type(recordRow)`
        WITH u AS (
          UPDATE users SET ${set}
          WHERE id = ${ctx.userId} AND deleted_at IS NULL
          RETURNING *)
        SELECT ${COLUMNS} FROM u`),
    );
    if (!row) throw new NotFoundError('user', ctx.userId);
    return row;
  }

  /**
   * Counts a failed login and locks the account at the threshold, in one
   * UPDATE that is exact under concurrency (docs/security.md, "Lockout").
   * A running lock is never extended. Pass `LockoutPolicy`'s threshold and lockSeconds.
   * @returns the new count and lock, or `undefined` for an unknown user
   * @throws ValidationError naming the invalid field
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async recordFailedLogin(
    userId: string,
    policy: { threshold: number; lockSeconds: number },
  ): Promise<{ failedLoginCount: number; lockedUntil: Date | null } | undefined> {
    const d = parseInput(lockoutInput, { userId, ...policy });
    const row = await withScope(this.postgres.appPool, { userId: d.userId }, (tx) =>
      tx.maybeOne(sql.type(lockoutRow)`
        UPDATE users SET
          failed_login_count = CASE WHEN locked_until <= now() THEN 1 ELSE failed_login_count + 1 END,
          locked_until = CASE
            WHEN locked_until > now() THEN locked_until
            WHEN (CASE WHEN locked_until <= now() THEN 1 ELSE failed_login_count + 1 END) >= ${d.threshold}
              THEN now() + make_interval(secs => ${d.lockSeconds})
            ELSE NULL END
        WHERE id = ${d.userId}
        RETURNING failed_login_count, locked_until`),
    );
    return row ?? undefined;
  }

  /**
   * Resets the failure count and records the login, unless a lock is still running.
   * @returns false when the account is locked (nothing was changed)
   * @throws ValidationError naming `userId` / `ip`
   */
  @declareAccess({ preTenant: 'authentication: runs before any caller is known' })
  async recordSuccessfulLogin(userId: string, ip?: string): Promise<boolean> {
    const d = parseInput(successfulLoginInput, { userId, ip });
    // Every sign-in: the user's scope and the one UPDATE in one round trip, committed at its Sync (scopedCommand).
    return (await this.postgres.scopedCommand({ userId: d.userId }, RECORD_SUCCESSFUL_LOGIN, [d.userId, d.ip ?? null])) > 0;
  }

  /**
   * Sets the account status (verification, suspension, administrative lock).
   * `active` also stamps `email_verified_at` the first time. `options.events`
   * (e.g. `auth.user.suspended`) are written in the same transaction.
   * @throws ValidationError naming `userId` / `status` / `events.<i>.*`; NotFoundError for an unknown user (no event written)
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's" })
  async setStatus(userId: string, status: UserStatus, options: { readonly events?: readonly AuditEventInput[] } = {}): Promise<UserRecord> {
    const d = parseInput(statusInput, { userId, status });
    return withScope(this.postgres.appPool, { userId: d.userId }, (tx) => this.#setStatus(tx, d.userId, d.status, options.events));
  }

  /**
   * {@link setStatus} in the caller's transaction `tx`, which must be in the
   * user's scope (`UserRepository.createWith`'s, or a tenant scope of that user).
   * @throws ValidationError naming `userId` / `status` / `events.<i>.*`; NotFoundError for an unknown user
   */
  @declareAccess({ preTenant: 'sign-up: the account and its first organization do not exist yet' })
  async setStatusWithin(
    tx: DatabaseTransactionConnection,
    userId: string,
    status: UserStatus,
    options: { readonly events?: readonly AuditEventInput[] } = {},
  ): Promise<UserRecord> {
    const d = parseInput(statusInput, { userId, status });
    return this.#setStatus(tx, d.userId, d.status, options.events);
  }

  /**
   * An email verification's effect, in the caller's transaction `tx` (in the
   * user's scope: `VerificationTokenRepository.consumeWith`'s): under the user's
   * row lock, a `pending_verification` account becomes `active` (stamping
   * `email_verified_at`); any other status stays as it is — a suspended account
   * stays suspended.
   * @returns the user after the change, or undefined for an unknown user
   * @throws ValidationError naming `userId`
   */
  @declareAccess({ preTenant: 'email verification: the caller holds the verification link' })
  async activatePendingWithin(tx: DatabaseTransactionConnection, userId: string): Promise<UserRecord | undefined> {
    const id = parseInput(uuidInput, userId, 'userId');
    const user = await tx.maybeOne(sql.type(recordRow)`SELECT ${COLUMNS} FROM users u WHERE u.id = ${id} FOR UPDATE`);
    if (user?.status !== 'pending_verification') return user ?? undefined;
    return this.#setStatus(tx, id, 'active');
  }

  async #setStatus(tx: DatabaseTransactionConnection, userId: string, status: UserStatus, events?: readonly AuditEventInput[]): Promise<UserRecord> {
    const updated = await tx.maybeOne(sql.type(recordRow)`
      WITH u AS (
        UPDATE users SET status = ${status},
          email_verified_at = CASE WHEN ${status}::text = 'active' THEN coalesce(email_verified_at, now()) ELSE email_verified_at END,
          deleted_at = CASE WHEN ${status}::text = 'deleted' THEN coalesce(deleted_at, now()) ELSE deleted_at END
        WHERE id = ${userId}
        RETURNING *)
      SELECT ${COLUMNS} FROM u`);
    if (!updated) throw new NotFoundError('user', userId);
    if (events !== undefined && events.length > 0) await this.audit.appendWithin(tx, events);
    return updated;
  }

  /**
   * Members of the current organization (live users), oldest first.
   * @throws ValidationError naming `page.*`
   */
  @declareAccess({ requires: 'members:read' })
  async listForOrganization(ctx: TenantContext, page?: KeysetPageInput): Promise<KeysetPage<UserRecord>> {
    const { limit, position } = parseKeysetPage(page);
    // One SQL text for the first and the following pages (the cursor is a nullable parameter), so it can be
    // a named prepared statement: PostgreSQL then plans the row-level-security-expanded query once per
    // connection instead of on every call (docs/benchmarks.md, "tenant read with RLS").
    // One round trip: the tenant settings and the read go as one pipeline, one implicit transaction
    // (PostgresConnection.tenantQuery); RLS on the application role is still what confines the rows.
    const rows = await this.postgres.tenantQuery(ctx, USERS_FOR_ORGANIZATION, [ctx.organizationId, position?.us ?? null, position?.id ?? null, limit + 1]);
    return toKeysetPage(rows, limit);
  }
}
