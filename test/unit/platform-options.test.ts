import { describe, expect, it } from 'vitest';
import {
  AUTH_FLOW_OPTIONS,
  AUTH_NOTIFIER,
  createPlatform,
  DEFAULT_AUTH_FLOW_OPTIONS,
  ERASURE_FLOW_OPTIONS,
  loadConfig,
  ValidationError,
  type AuthNotifier,
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
});
