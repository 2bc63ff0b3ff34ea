import { inject, injectable } from 'tsyringe';
import { TenantAccessError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { SecuritySettingsRepository, type SecuritySettings } from '../../postgres/repositories/security-settings-repository.js';
import { isIpAllowed } from '../../security/is-ip-allowed.js';
import { LOGGER } from '../../tokens.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** How long the hot paths (validate, API keys) may act on settings read earlier by this process. */
export const SECURITY_SETTINGS_MEMO_MS = 30_000;
/** Bounds the memo; a process serving more organizations than this reloads the oldest. */
const MEMO_MAX_ENTRIES = 10_000;
/** An access attempt from outside the allow-list is either misconfiguration or a stolen credential. */
export const IP_NOT_ALLOWED_RISK = 80;

export interface IpCheck {
  readonly organizationId: string;
  readonly ip: string | undefined;
  readonly userAgent?: string | undefined;
  readonly actorUserId?: string | null | undefined;
  /** What was attempted, for the audit log: `login`, `mfa`, `api_key`. */
  readonly via: 'login' | 'mfa' | 'api_key';
  readonly apiKeyId?: string | undefined;
}

/**
 * Per-organization security settings as the flows apply them: reads (fresh
 * for sign-in and password changes, memoised for the hot paths) and the IP
 * allow-list check with its audit event.
 *
 * Why a process-local memo rather than the Redis cache-aside: the hot paths
 * would pay a Redis round trip per request for a value that changes a few
 * times a year; a change takes effect on these paths within
 * {@link SECURITY_SETTINGS_MEMO_MS} (sign-in always reads Postgres).
 */
@injectable()
@accessControlled
export class OrganizationSecurity {
  readonly #memo = new Map<string, { readonly settings: SecuritySettings; readonly loadedAt: number }>();

  constructor(
    @inject(SecuritySettingsRepository) private readonly settings: SecuritySettingsRepository,
    @inject(AuditWriter) private readonly audit: AuditWriter,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * The organization's settings read from Postgres now (defaults when never set).
   * @throws ValidationError naming `organizationId`
   */
  @declareAccess({ preTenant: 'sign-in checks of an organization before a context exists' })
  async current(organizationId: string): Promise<SecuritySettings> {
    const settings = await this.settings.getForOrganization(organizationId);
    this.#remember(organizationId, settings);
    return settings;
  }

  /**
   * The settings as this process last read them, if younger than {@link SECURITY_SETTINGS_MEMO_MS}; else {@link current}.
   * @throws ValidationError naming `organizationId`
   */
  @declareAccess({ preTenant: 'sign-in checks of an organization before a context exists' })
  async recent(organizationId: string): Promise<SecuritySettings> {
    const memo = this.#memo.get(organizationId);
    if (memo && Date.now() - memo.loadedAt < SECURITY_SETTINGS_MEMO_MS) return memo.settings;
    return this.current(organizationId);
  }

  /**
   * Refuses an address outside a non-empty allow-list (an unknown address too),
   * after recording a high-risk audit event.
   * @throws TenantAccessError with `permission: 'ip_allow_list'`
   */
  @declareAccess({ preTenant: 'sign-in checks of an organization before a context exists' })
  async assertIpAllowed(settings: SecuritySettings, check: IpCheck): Promise<void> {
    if (isIpAllowed(check.ip, settings.ipAllowList)) return;
    await this.audit
      .record({
        eventType: 'auth.ip_not_allowed',
        organizationId: check.organizationId,
        actorUserId: check.actorUserId ?? null,
        ip: check.ip ?? null,
        userAgent: check.userAgent ?? null,
        riskScore: IP_NOT_ALLOWED_RISK,
        details: { via: check.via, ipKnown: check.ip !== undefined, ...(check.apiKeyId === undefined ? {} : { apiKeyId: check.apiKeyId }) },
      })
      .catch((error: unknown) => this.logger.error('audit event not recorded', { eventType: 'auth.ip_not_allowed', error }));
    throw new TenantAccessError('Access from this network is not allowed for the organization', { permission: 'ip_allow_list' });
  }

  #remember(organizationId: string, settings: SecuritySettings): void {
    // Re-inserting moves the key to the end, so the first key is the least recently loaded.
    this.#memo.delete(organizationId);
    this.#memo.set(organizationId, { settings, loadedAt: Date.now() });
    if (this.#memo.size > MEMO_MAX_ENTRIES) {
      const oldest = this.#memo.keys().next();
      if (!oldest.done) this.#memo.delete(oldest.value);
    }
  }
}

/**
 * When a session stops being valid if nothing happens on it: the earlier of
 * its absolute expiry and `lastActivityMs` + the organization's inactivity
 * timeout. What the Redis record's `expiresAt` holds (docs/sessions.md,
 * "Organization security settings").
 */
export function activeUntil(absoluteExpiresAt: Date, settings: Pick<SecuritySettings, 'inactivityTimeoutMinutes'>, lastActivityMs: number): number {
  return Math.min(absoluteExpiresAt.getTime(), lastActivityMs + settings.inactivityTimeoutMinutes * 60_000);
}
