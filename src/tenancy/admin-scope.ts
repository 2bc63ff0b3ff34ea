import { TenantAccessError, ValidationError } from '../errors.js';

/**
 * Permission to act across tenants (GDPR export and erasure, organization
 * deletion, reconcilers). Admin operations take one as their first argument
 * so they cannot be reached by accident with a {@link TenantContext}; the
 * reason and actor are meant for the audit log.
 *
 * @example
 * const scope = AdminScope.create({ actor: 'erasure-worker', reason: `erasure request ${requestId}` });
 */
export class AdminScope {
  // A private brand: a structurally identical object literal is not an AdminScope.
  readonly #issued = true;
  readonly actor: string;
  readonly reason: string;

  private constructor(actor: string, reason: string) {
    this.actor = actor;
    this.reason = reason;
    Object.freeze(this);
  }

  /** @throws ValidationError when actor or reason is empty */
  static create(input: { actor: string; reason: string }): AdminScope {
    const issues = (['actor', 'reason'] as const)
      .filter((k) => typeof input[k] !== 'string' || input[k].trim() === '')
      .map((k) => ({ path: k, message: 'must be a non-empty string' }));
    if (issues.length > 0) throw new ValidationError(issues);
    return new AdminScope(input.actor.trim(), input.reason.trim());
  }

  static is(value: unknown): value is AdminScope {
    return typeof value === 'object' && value !== null && #issued in value;
  }
}

/** @throws TenantAccessError unless `scope` was made by {@link AdminScope.create} */
export function assertAdminScope(scope: unknown): asserts scope is AdminScope {
  if (!AdminScope.is(scope)) throw new TenantAccessError('An AdminScope is required for cross-tenant operations', { permission: 'admin' });
}
