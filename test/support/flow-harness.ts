import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { StoreName } from '../../src/errors.js';
import { MfaSignIn } from '../../src/flows/auth/mfa-sign-in.js';
import { PasswordChange } from '../../src/flows/auth/password-change.js';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../src/flows/auth/refresh-rotation.js';
import { SessionRevoker } from '../../src/flows/auth/session-revoker.js';
import { SessionValidator } from '../../src/flows/auth/session-validator.js';
import { SignUpService } from '../../src/flows/auth/sign-up-service.js';
import { createPlatform, type Platform } from '../../src/platform.js';
import { AuditWriter } from '../../src/postgres/repositories/audit-writer.js';
import { AuditRepository, type AuditRecord } from '../../src/postgres/repositories/audit-repository.js';
import type { TenantContext } from '../../src/tenancy/tenant-context.js';
import { AUTH_NOTIFIER } from '../../src/tokens.js';
import { CapturingNotifier, PASSWORD } from './auth-fixtures.js';
import type { TestEnv } from './test-env.js';

/** A started platform for the auth flows, with the flows resolved and a notifier that captures what they send. */
export interface FlowHarness {
  readonly t: TestEnv;
  readonly platform: Platform;
  readonly signIn: PasswordSignIn;
  readonly mfaSignIn: MfaSignIn;
  readonly validator: SessionValidator;
  readonly rotation: RefreshRotation;
  readonly passwordChange: PasswordChange;
  readonly revoker: SessionRevoker;
  readonly notifier: CapturingNotifier;
  /** Signs up an active user with {@link PASSWORD} and its own organization. */
  user(options?: { verified?: boolean }): Promise<{ email: string; userId: string; organizationId: string }>;
  /** Audit events of an organization (after flushing the writer). */
  auditEvents(ctx: TenantContext, minRiskScore?: number): Promise<readonly AuditRecord[]>;
}

/** Starts a platform with `stores` on the test environment `t` (its database, key prefix …); the caller stops `platform`. */
export async function startFlowHarness(t: TestEnv, stores: readonly StoreName[] = ['postgres', 'redis']): Promise<FlowHarness> {
  const platform = createPlatform(t.config, { stores });
  const notifier = new CapturingNotifier();
  platform.container.registerInstance(AUTH_NOTIFIER, notifier);
  await platform.start();
  return {
    t,
    platform,
    signIn: platform.resolve(PasswordSignIn),
    mfaSignIn: platform.resolve(MfaSignIn),
    validator: platform.resolve(SessionValidator),
    rotation: platform.resolve(RefreshRotation),
    passwordChange: platform.resolve(PasswordChange),
    revoker: platform.resolve(SessionRevoker),
    notifier,
    user: async (options = {}) => {
      const email = `user-${randomUUID().slice(0, 8)}@example.test`;
      const { user, organization } = await platform.resolve(SignUpService).createAccount({
        email,
        password: PASSWORD,
        organizationName: 'Acme',
        ageConfirmed: true,
        emailVerified: options.verified ?? true,
      });
      return { email, userId: user.id, organizationId: organization.id };
    },
    auditEvents: async (ctx, minRiskScore) => {
      await platform.resolve(AuditWriter).flush();
      const page = await platform.resolve(AuditRepository).query(ctx, minRiskScore === undefined ? {} : { minRiskScore }, { limit: 100 });
      return page.items;
    },
  };
}
