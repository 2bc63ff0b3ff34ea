/**
 * The package's error hierarchy. Every error thrown by platform-data is a
 * {@link PlatformError}; driver errors are mapped to these classes by one
 * function per store (see `postgres/map-postgres-error.ts` and siblings).
 *
 * Messages never contain secrets: URLs are redacted before they are put in a
 * message, and token/password values are never echoed.
 */

export type StoreName = 'postgres' | 'mongo' | 'qdrant' | 'redis';

export interface IssueDetail {
  /** Dotted path of the offending field, e.g. `email` or `settings.maxUsers`. */
  readonly path: string;
  readonly message: string;
  readonly code?: string;
}

/**
 * Every code a {@link PlatformError} can carry: a closed set, so a caller can
 * `switch` on `error.code` exhaustively and a new code is a reviewed change to
 * this list. Each subclass narrows `code` to its own member(s).
 */
export const PLATFORM_ERROR_CODES = [
  // one per subclass
  'CONFIG_INVALID',
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'CONFLICT',
  'STORE_UNAVAILABLE',
  'TENANT_ACCESS_DENIED',
  'INVALID_CREDENTIALS',
  'ACCOUNT_STATE',
  'MFA_CODE_INVALID',
  'MFA_REQUIRED',
  'RATE_LIMITED',
  // TokenError: one code per reason (TOKEN_ERROR_CODES)
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_REVOKED',
  'TOKEN_REUSED',
  'TOKEN_CONSUMED',
  'CRYPTO_FAILED',
  'PASSKEY_REJECTED',
  // migrations (MigrationError)
  'MIGRATION_FAILED',
  'MIGRATION_CHECKSUM_MISMATCH',
  'MIGRATION_OUT_OF_ORDER',
  'MIGRATION_FILE_MISSING',
  'MIGRATION_NO_DOWN',
  'MIGRATION_INVALID_FILES',
  // a store answered something the package does not map to a class above
  'POSTGRES_ERROR',
  'MONGO_ERROR',
  'QDRANT_ERROR',
  'REDIS_ERROR',
  'REDIS_REPLY',
  'REDIS_UNEXPECTED_REPLY',
  'RESULT_INVALID',
  'STATEMENT_TIMEOUT',
  'APP_ROLE_MISSING',
  'SCRIPT_ARITY',
  'SCRIPT_MISSING',
  // lifecycle
  'NOT_STARTED',
  'CLOSED',
  'AUDIT_WRITER_CLOSED',
  'NO_PROVISIONER',
  // flows
  'ERASURE_TIMEOUT',
  'EMBEDDER_MISMATCH',
  'KNOWLEDGE_CONTENT_NOT_INLINE',
  'KNOWLEDGE_INCONSISTENT',
  'MAINTENANCE_FAILED',
  'INTEGRATION_REFRESH_FAILED',
  'DNS_LOOKUP_FAILED',
  // CLI
  'RESET_REFUSED',
  'DEMO_FAILED',
] as const;

export type PlatformErrorCode = (typeof PLATFORM_ERROR_CODES)[number];

export class PlatformError<C extends PlatformErrorCode = PlatformErrorCode> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** Invalid configuration; `issues` lists every invalid variable at once. */
export class ConfigError extends PlatformError<'CONFIG_INVALID'> {
  readonly issues: readonly IssueDetail[];
  constructor(issues: readonly IssueDetail[], options?: { cause?: unknown }) {
    super('CONFIG_INVALID', `Invalid configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, options);
    this.issues = issues;
  }
}

/** Input rejected by a schema; `fields` names every offending field. */
export class ValidationError extends PlatformError<'VALIDATION_FAILED'> {
  readonly issues: readonly IssueDetail[];
  constructor(issues: readonly IssueDetail[], options?: { cause?: unknown; message?: string }) {
    super('VALIDATION_FAILED', options?.message ?? `Invalid input: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, options);
    this.issues = issues;
  }
  get fields(): string[] {
    return [...new Set(this.issues.map((i) => i.path))];
  }
}

export class NotFoundError extends PlatformError<'NOT_FOUND'> {
  readonly entity: string;
  readonly id: string | undefined;
  constructor(entity: string, id?: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', id === undefined ? `${entity} not found` : `${entity} ${id} not found`, options);
    this.entity = entity;
    this.id = id;
  }
}

/** A uniqueness / exclusion / business-rule conflict. `constraint` names the constraint or index. */
export class ConflictError extends PlatformError<'CONFLICT'> {
  readonly store: StoreName | undefined;
  readonly constraint: string | undefined;
  constructor(message: string, details: { store?: StoreName; constraint?: string; cause?: unknown } = {}) {
    super('CONFLICT', message, { cause: details.cause });
    this.store = details.store;
    this.constraint = details.constraint;
  }
}

/** A store cannot be reached or did not answer in time. `url` is already redacted. */
export class StoreUnavailableError extends PlatformError<'STORE_UNAVAILABLE'> {
  readonly store: StoreName;
  readonly url: string | undefined;
  /**
   * Why, when the store's error mapper could tell: `database_missing` and `auth_failed` are
   * permanent (waiting does not help: {@link permanent}), the others may pass.
   */
  readonly reason: StoreUnavailableReason | undefined;
  constructor(store: StoreName, message: string, details: { url?: string; cause?: unknown; reason?: StoreUnavailableReason } = {}) {
    super('STORE_UNAVAILABLE', `${store} unavailable${details.url ? ` at ${details.url}` : ''}: ${message}`, {
      cause: details.cause,
    });
    this.store = store;
    this.url = details.url;
    this.reason = details.reason;
  }

  /** True when retrying cannot succeed without a change by the operator (a missing database, refused credentials). */
  get permanent(): boolean {
    return this.reason === 'database_missing' || this.reason === 'auth_failed';
  }
}

/** Causes a store's error mapper tells apart (see {@link StoreUnavailableError.reason}). */
export type StoreUnavailableReason = 'refused' | 'unknown_host' | 'auth_failed' | 'database_missing' | 'timeout';

/** The caller's tenant context does not allow the operation. `permission` names what was missing. */
export class TenantAccessError extends PlatformError<'TENANT_ACCESS_DENIED'> {
  readonly permission: string | undefined;
  constructor(message: string, details: { permission?: string; cause?: unknown } = {}) {
    super('TENANT_ACCESS_DENIED', message, { cause: details.cause });
    this.permission = details.permission;
  }
}

/** Login failed. Deliberately the same for unknown email and wrong password. */
export class InvalidCredentialsError extends PlatformError<'INVALID_CREDENTIALS'> {
  constructor() {
    super('INVALID_CREDENTIALS', 'Invalid email or password');
  }
}

/** The account cannot sign in (locked, suspended, unverified, …). Only raised after a correct password. */
export class AccountStateError extends PlatformError<'ACCOUNT_STATE'> {
  readonly state: 'locked' | 'suspended' | 'pending_verification' | 'deleted' | 'password_change_required';
  readonly until: Date | undefined;
  constructor(state: AccountStateError['state'], until?: Date) {
    super('ACCOUNT_STATE', `Account cannot sign in: ${state}`);
    this.state = state;
    this.until = until;
  }
}

/**
 * A second-factor code (TOTP or recovery code) was refused. Counted like a wrong
 * password (lockout and throttle) when it happens during sign-in.
 * `replayed`: a valid TOTP code whose time step was already used.
 */
export class InvalidMfaCodeError extends PlatformError<'MFA_CODE_INVALID'> {
  readonly reason: 'invalid' | 'replayed';
  constructor(reason: InvalidMfaCodeError['reason']) {
    super('MFA_CODE_INVALID', reason === 'replayed' ? 'This code was already used; wait for the next one' : 'Invalid verification code');
    this.reason = reason;
  }
}

/** A rate limit or throttle refused the call. */
export class RateLimitedError extends PlatformError<'RATE_LIMITED'> {
  readonly retryAfterMs: number;
  readonly limit: number | undefined;
  constructor(message: string, retryAfterMs: number, limit?: number) {
    super('RATE_LIMITED', message);
    this.retryAfterMs = retryAfterMs;
    this.limit = limit;
  }
}

/**
 * The code of each reason a token is refused, so a client can act on the code
 * alone: `TOKEN_EXPIRED` → refresh or sign in again; `TOKEN_REVOKED` → signed
 * out (logout, suspension, password change); `TOKEN_REUSED` → a rotated refresh
 * token came back (theft suspected: the family is revoked); `TOKEN_CONSUMED` →
 * a single-use token (verification link, MFA challenge) was already used;
 * `TOKEN_INVALID` → unknown, malformed or someone else's.
 */
export const TOKEN_ERROR_CODES = {
  invalid: 'TOKEN_INVALID',
  expired: 'TOKEN_EXPIRED',
  revoked: 'TOKEN_REVOKED',
  reused: 'TOKEN_REUSED',
  consumed: 'TOKEN_CONSUMED',
} as const satisfies Record<string, PlatformErrorCode>;
export type TokenErrorReason = keyof typeof TOKEN_ERROR_CODES;
export type TokenErrorCode = (typeof TOKEN_ERROR_CODES)[TokenErrorReason];

/** A session, refresh token, verification token or API key is invalid, expired, consumed, revoked or reused; `code` says which ({@link TOKEN_ERROR_CODES}). */
export class TokenError extends PlatformError<TokenErrorCode> {
  readonly reason: TokenErrorReason;
  constructor(reason: TokenErrorReason, message?: string) {
    super(TOKEN_ERROR_CODES[reason], message ?? `Token ${reason}`);
    this.reason = reason;
  }
}

/** Failure of a cryptographic operation (e.g. a ciphertext that does not authenticate). */
export class CryptoError extends PlatformError<'CRYPTO_FAILED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CRYPTO_FAILED', message, options);
  }
}

/**
 * A WebAuthn ceremony response was refused (the challenge itself fails with {@link TokenError}):
 * - `verification_failed` — signature, origin, RP ID, flags or attestation did not verify (WebAuthn L2 §7.1 / §7.2);
 * - `unknown_credential` — no passkey with that credential id (or not one of this user's);
 * - `counter_regression` — the signature counter did not increase: a possibly cloned authenticator (§6.1.1), audited;
 * - `already_registered` — the credential id is registered already (§7.1 step 22).
 */
export class PasskeyError extends PlatformError<'PASSKEY_REJECTED'> {
  readonly reason: 'verification_failed' | 'unknown_credential' | 'counter_regression' | 'already_registered';
  constructor(reason: PasskeyError['reason'], options?: { cause?: unknown }) {
    super('PASSKEY_REJECTED', `Passkey rejected: ${reason}`, options);
    this.reason = reason;
  }
}

/** The application's DNS lookup (domain verification) failed or exceeded its time bound; `recordName` is the name looked up. */
export class DnsLookupError extends PlatformError<'DNS_LOOKUP_FAILED'> {
  readonly recordName: string;
  constructor(recordName: string, options?: { cause?: unknown }) {
    super('DNS_LOOKUP_FAILED', `DNS lookup of ${recordName} failed`, options);
    this.recordName = recordName;
  }
}
