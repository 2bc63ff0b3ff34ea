import { describe, expect, it } from 'vitest';
import {
  AUTH_FLOW_OPTIONS,
  AUTH_NOTIFIER,
  CONFIG,
  createPlatform,
  DEFAULT_AUTH_FLOW_OPTIONS,
  DEFAULT_IDENTITY_FLOW_OPTIONS,
  DEFAULT_OUTBOX_RELAY_OPTIONS,
  DEFAULT_SIGNING_KEY_OPTIONS,
  ERASURE_FLOW_OPTIONS,
  IDENTITY_FLOW_OPTIONS,
  IDENTITY_NOTIFIER,
  OUTBOX_EMAIL_SENDER,
  OUTBOX_RELAY_OPTIONS,
  SIGNING_KEY_OPTIONS,
  loadConfig,
  ValidationError,
  type AuthNotifier,
  type IdentityNotifier,
  type OutboxEmailSender,
} from '../../src/index.js';

// createPlatform connects nothing, so these run without any store.
const config = loadConfig({});

function validationPaths(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map((i) => i.path);
  }
  throw new Error('expected a ValidationError');
}

describe('PlatformOptions', () => {
  it('merges an options object over its defaults and registers it under its token', () => {
    const platform = createPlatform(config, { authFlows: { requireVerifiedEmail: false }, erasureFlow: { attempts: 2 } });
    expect(platform.resolve(AUTH_FLOW_OPTIONS)).toEqual({ ...DEFAULT_AUTH_FLOW_OPTIONS, requireVerifiedEmail: false });
    expect(platform.resolve(ERASURE_FLOW_OPTIONS)).toMatchObject({ attempts: 2, backoffMs: 1_000 });
  });

  it('sessions.confirmWindowSeconds overrides SESSION_CONFIRM_WINDOW_SECONDS (default 600) and is validated', () => {
    expect(config.auth.sessionConfirmWindowSeconds).toBe(600);
    expect(loadConfig({ SESSION_CONFIRM_WINDOW_SECONDS: '30' }).auth.sessionConfirmWindowSeconds).toBe(30);
    expect(() => loadConfig({ SESSION_CONFIRM_WINDOW_SECONDS: '0' })).toThrow(/SESSION_CONFIRM_WINDOW_SECONDS/);
    const platform = createPlatform(config, { sessions: { confirmWindowSeconds: 5 } });
    expect(platform.config.auth.sessionConfirmWindowSeconds).toBe(5);
    expect(platform.resolve(CONFIG).auth.sessionConfirmWindowSeconds).toBe(5);
    // The caller's configuration object is not changed.
    expect(config.auth.sessionConfirmWindowSeconds).toBe(600);
    expect(validationPaths(() => createPlatform(config, { sessions: { confirmWindowSeconds: 0 } }))).toEqual(['options.sessions.confirmWindowSeconds']);
  });

  it('registers an application-supplied implementation', () => {
    const notifier: AuthNotifier = {
      passwordReset: async () => {},
      emailVerification: async () => {},
      accountLocked: async () => {},
      signUpWithExistingEmail: async () => {},
    };
    expect(createPlatform(config, { authNotifier: notifier }).resolve(AUTH_NOTIFIER)).toBe(notifier);
  });

  it('reports every invalid option at once, by path', () => {
    const paths = validationPaths(() =>
      createPlatform(config, {
        stores: ['postgres', 'postgres'],
        authFlows: { passwordHistoryDepth: 99 },
        knowledgeIngestion: { embedBatchSize: 0 },
        embedder: { dimension: 0, embed: async () => [] },
      }),
    );
    expect(paths.sort()).toEqual(['options.authFlows.passwordHistoryDepth', 'options.embedder', 'options.knowledgeIngestion.embedBatchSize', 'options.stores']);
  });

  it('takes the erasure step lease and sweep interval, within their ranges', () => {
    expect(createPlatform(config, { erasureFlow: { leaseMs: 5_000, sweepEveryMs: 1_000 } }).resolve(ERASURE_FLOW_OPTIONS)).toMatchObject({
      attempts: 5,
      leaseMs: 5_000,
      sweepEveryMs: 1_000,
    });
    const paths = validationPaths(() => createPlatform(config, { erasureFlow: { leaseMs: 10, sweepEveryMs: 0.5 } }));
    expect(paths.sort()).toEqual(['options.erasureFlow.leaseMs', 'options.erasureFlow.sweepEveryMs']);
  });

  it('refuses unknown keys and objects that do not implement the interface', () => {
    const paths = validationPaths(() => createPlatform(config, { authNotifier: {} as AuthNotifier, auditWriter: { maxBatchSize: 5 } as never }));
    expect(paths.sort()).toEqual(['options.auditWriter', 'options.authNotifier']);
  });

  it('merges identity, signing-key and outbox-relay options over their defaults (nested objects key by key)', () => {
    const platform = createPlatform(config, {
      identityFlows: { webauthn: { rpId: 'example.com', origins: ['https://app.example.com'] }, emailChange: { confirmFromOldAddress: false } },
      signingKeys: { algorithm: 'ES256', issuer: 'https://auth.example.com' },
      outboxRelay: { batchSize: 10 },
    });
    expect(platform.resolve(IDENTITY_FLOW_OPTIONS)).toEqual({
      ...DEFAULT_IDENTITY_FLOW_OPTIONS,
      webauthn: { ...DEFAULT_IDENTITY_FLOW_OPTIONS.webauthn, rpId: 'example.com', origins: ['https://app.example.com'] },
      emailChange: { ...DEFAULT_IDENTITY_FLOW_OPTIONS.emailChange, confirmFromOldAddress: false },
    });
    expect(platform.resolve(SIGNING_KEY_OPTIONS)).toEqual({ ...DEFAULT_SIGNING_KEY_OPTIONS, algorithm: 'ES256', issuer: 'https://auth.example.com' });
    expect(platform.resolve(OUTBOX_RELAY_OPTIONS)).toEqual({ ...DEFAULT_OUTBOX_RELAY_OPTIONS, batchSize: 10, allowInsecureWebhookUrls: false });
  });

  it('registers the identity notifier and the outbox mailer the application supplies', () => {
    const notifier: IdentityNotifier = { magicLink: async () => {}, signInCode: async () => {}, emailChange: async () => {} };
    const mailer: OutboxEmailSender = { send: async () => {} };
    const platform = createPlatform(config, { identityNotifier: notifier, outboxEmailSender: mailer });
    expect(platform.resolve(IDENTITY_NOTIFIER)).toBe(notifier);
    expect(platform.resolve(OUTBOX_EMAIL_SENDER)).toBe(mailer);
  });

  it('reports invalid identity, signing-key and outbox-relay options by path', () => {
    const paths = validationPaths(() =>
      createPlatform(config, {
        identityFlows: { webauthn: { origins: ['not a url'] }, signInCodeMaxAttempts: 0 },
        signingKeys: { algorithm: 'HS256' as never, clockToleranceSeconds: -1 },
        outboxRelay: { batchSize: 0 },
        identityNotifier: { magicLink: async () => {} } as unknown as IdentityNotifier,
      }),
    );
    expect(paths.sort()).toEqual([
      'options.identityFlows.signInCodeMaxAttempts',
      'options.identityFlows.webauthn.origins.0',
      'options.identityNotifier',
      'options.outboxRelay.batchSize',
      'options.signingKeys.algorithm',
      'options.signingKeys.clockToleranceSeconds',
    ]);
  });

  it('checks a cross-field rule against the merged value: a delivery timeout above the default lease is refused', () => {
    // DEFAULT_OUTBOX_RELAY_OPTIONS.leaseMs is 60 000; the lease must exceed the delivery timeout.
    expect(validationPaths(() => createPlatform(config, { outboxRelay: { deliveryTimeoutMs: 120_000 } }))).toEqual(['options.outboxRelay.leaseMs']);
    expect(createPlatform(config, { outboxRelay: { deliveryTimeoutMs: 120_000, leaseMs: 180_000 } }).resolve(OUTBOX_RELAY_OPTIONS)).toMatchObject({
      deliveryTimeoutMs: 120_000,
      leaseMs: 180_000,
    });
  });

  it('refuses unknown keys inside nested identity options', () => {
    expect(validationPaths(() => createPlatform(config, { identityFlows: { webauthn: { rpID: 'x' } as never } }))).toEqual(['options.identityFlows.webauthn']);
  });
});
