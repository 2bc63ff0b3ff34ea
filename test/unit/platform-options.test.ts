import { describe, expect, it } from 'vitest';
import {
  AUTH_FLOW_OPTIONS,
  AUTH_NOTIFIER,
  CONFIG,
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

  it('refuses unknown keys and objects that do not implement the interface', () => {
    const paths = validationPaths(() => createPlatform(config, { authNotifier: {} as AuthNotifier, auditWriter: { maxBatchSize: 5 } as never }));
    expect(paths.sort()).toEqual(['options.auditWriter', 'options.authNotifier']);
  });
});
