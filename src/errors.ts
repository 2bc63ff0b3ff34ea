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

export class PlatformError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** Invalid configuration; `issues` lists every invalid variable at once. */
export class ConfigError extends PlatformError {
  readonly issues: readonly IssueDetail[];
  constructor(issues: readonly IssueDetail[], options?: { cause?: unknown }) {
    super(
      'CONFIG_INVALID',
      `Invalid configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      options,
    );
    this.issues = issues;
  }
}

/** Input rejected by a schema; `fields` names every offending field. */
export class ValidationError extends PlatformError {
  readonly issues: readonly IssueDetail[];
  constructor(issues: readonly IssueDetail[], options?: { cause?: unknown; message?: string }) {
    super(
      'VALIDATION_FAILED',
      options?.message ?? `Invalid input: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
      options,
    );
    this.issues = issues;
  }
  get fields(): string[] {
    return [...new Set(this.issues.map((i) => i.path))];
  }
}

export class NotFoundError extends PlatformError {
  readonly entity: string;
  readonly id: string | undefined;
  constructor(entity: string, id?: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', id === undefined ? `${entity} not found` : `${entity} ${id} not found`, options);
    this.entity = entity;
    this.id = id;
  }
}

/** A uniqueness / exclusion / business-rule conflict. `constraint` names the constraint or index. */
export class ConflictError extends PlatformError {
  readonly store: StoreName | undefined;
  readonly constraint: string | undefined;
  constructor(message: string, details: { store?: StoreName; constraint?: string; cause?: unknown } = {}) {
    super('CONFLICT', message, { cause: details.cause });
    this.store = details.store;
    this.constraint = details.constraint;
  }
}

/** A store cannot be reached or did not answer in time. `url` is already redacted. */
export class StoreUnavailableError extends PlatformError {
  readonly store: StoreName;
  readonly url: string | undefined;
  constructor(store: StoreName, message: string, details: { url?: string; cause?: unknown } = {}) {
    super('STORE_UNAVAILABLE', `${store} unavailable${details.url ? ` at ${details.url}` : ''}: ${message}`, {
      cause: details.cause,
    });
    this.store = store;
    this.url = details.url;
  }
}

/** The caller's tenant context does not allow the operation. `permission` names what was missing. */
export class TenantAccessError extends PlatformError {
  readonly permission: string | undefined;
  constructor(message: string, details: { permission?: string; cause?: unknown } = {}) {
    super('TENANT_ACCESS_DENIED', message, { cause: details.cause });
    this.permission = details.permission;
  }
}

/** Login failed. Deliberately the same for unknown email and wrong password. */
export class InvalidCredentialsError extends PlatformError {
  constructor() {
    super('INVALID_CREDENTIALS', 'Invalid email or password');
  }
}

/** The account cannot sign in (locked, suspended, unverified, …). Only raised after a correct password. */
export class AccountStateError extends PlatformError {
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
export class InvalidMfaCodeError extends PlatformError {
  readonly reason: 'invalid' | 'replayed';
  constructor(reason: InvalidMfaCodeError['reason']) {
    super('MFA_CODE_INVALID', reason === 'replayed' ? 'This code was already used; wait for the next one' : 'Invalid verification code');
    this.reason = reason;
  }
}

/** A rate limit or throttle refused the call. */
export class RateLimitedError extends PlatformError {
  readonly retryAfterMs: number;
  readonly limit: number | undefined;
  constructor(message: string, retryAfterMs: number, limit?: number) {
    super('RATE_LIMITED', message);
    this.retryAfterMs = retryAfterMs;
    this.limit = limit;
  }
}

/** A session, refresh token, verification token or API key is invalid, expired, consumed or revoked. */
export class TokenError extends PlatformError {
  readonly reason: 'invalid' | 'expired' | 'revoked' | 'reused' | 'consumed';
  constructor(reason: TokenError['reason'], message?: string) {
    super('TOKEN_INVALID', message ?? `Token ${reason}`);
    this.reason = reason;
  }
}

/** Failure of a cryptographic operation (e.g. a ciphertext that does not authenticate). */
export class CryptoError extends PlatformError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CRYPTO_FAILED', message, options);
  }
}
