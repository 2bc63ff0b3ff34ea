import 'reflect-metadata';
import { describe, expect, vi } from 'vitest';
import { InvalidCredentialsError, PlatformError, RateLimitedError } from '../../../src/errors.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { LoginThrottle } from '../../../src/redis/repositories/login-throttle.js';
import { PasswordHasher } from '../../../src/security/password-hasher.js';
import { PASSWORD } from '../../support/auth-fixtures.js';
import { requireStores } from '../../support/require-stores.js';
import { test } from '../../support/fixtures.js';

const WRONG = 'Wrong-password-123';

/**
 * The lockout as OWASP ASVS v4 2.2.1 ("anti-automation controls … effective at mitigating
 * brute force") and NIST SP 800-63B 5.2.2 ("limit consecutive failed authentication attempts
 * … to no more than 100") require it: the limit holds under a parallel burst, and a locked
 * account is no password oracle (ASVS v4 2.2.1 / 3.x "generic" failures; 800-63B 5.2.2 wants
 * the limit on *attempts*, so a locked account evaluates no password at all).
 */
// A burst of 200 sign-ins queues for the pool on a shared 2-core machine: generous connect slack.
test.override('envOverrides', { STORE_CONNECT_TIMEOUT_MS: '60000' });

describe.skipIf(!requireStores('postgres', 'redis'))('lockout: no race, no oracle (PasswordGate)', () => {
  let threshold: number;
  let evaluated: ReturnType<typeof vi.spyOn>;

  test.beforeAll(async ({ flow: h }) => {
    threshold = h.platform.config.auth.lockoutThreshold;
    // Real-hash evaluations only (unknown and locked accounts cost a dummy hash, which evaluates nothing).
    evaluated = vi.spyOn(h.platform.resolve(PasswordHasher), 'verify');
  });
  test.afterEach(() => evaluated.mockClear());

  test(`a parallel burst of 200 guesses (one right) evaluates at most the threshold of passwords, and every refusal is the same`, async ({ flow: h }) => {
    expect(threshold).toBe(5);
    const u = await h.user();
    const guesses = Array.from({ length: 200 }, (_, i) => (i === 150 ? PASSWORD : `${WRONG}-${i}`));
    const results = await Promise.allSettled(guesses.map((g) => h.signIn.login(u.email, g, { ip: '198.51.100.40' })));
    expect(evaluated.mock.calls.length).toBeLessThanOrEqual(threshold);
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    for (const error of refusals) expect(error instanceof InvalidCredentialsError || error instanceof RateLimitedError, String(error)).toBe(true);
    const user = await h.platform.resolve(UserRepository).getById(u.userId);
    // Counted once per evaluated password, never once per request (today's code counted 199).
    expect(user?.failedLoginCount).toBeLessThanOrEqual(threshold);
  });

  test('a locked account answers right and wrong passwords alike, evaluates neither, and its owner is told once', async ({ flow: h }) => {
    const u = await h.user();
    for (let i = 0; i < threshold; i++) await expect(h.signIn.login(u.email, WRONG, {})).rejects.toBeInstanceOf(InvalidCredentialsError);
    const locked = await h.platform.resolve(UserRepository).getById(u.userId);
    expect(locked?.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
    evaluated.mockClear();
    // As if the Redis throttle entry were gone (flushed, evicted, or the documented fail-open).
    const throttle = h.platform.resolve(LoginThrottle);
    const answers: PlatformError[] = [];
    for (const password of [PASSWORD, WRONG, PASSWORD]) {
      await throttle.reset({ email: u.email });
      answers.push(
        await h.signIn.login(u.email.toUpperCase(), password, {}).then(
          () => expect.fail('signed in while locked'),
          (e: PlatformError) => e,
        ),
      );
    }
    for (const a of answers)
      expect({ name: a.name, code: a.code, message: a.message }).toEqual({
        name: 'InvalidCredentialsError',
        code: 'INVALID_CREDENTIALS',
        message: 'Invalid email or password',
      });
    expect(evaluated).not.toHaveBeenCalled();
    // Nothing counted while locked, and the lock did not move.
    expect(await h.platform.resolve(UserRepository).getById(u.userId)).toMatchObject({ failedLoginCount: threshold, lockedUntil: locked?.lockedUntil });
    expect(h.notifier.notices.filter((n) => n.userId === u.userId)).toEqual([
      { kind: 'account_locked', userId: u.userId, email: u.email, lockedUntil: locked?.lockedUntil },
    ]);
  });

  test('a right password gives its reserved attempt back: the threshold-th attempt, if right, signs in', async ({ flow: h }) => {
    const u = await h.user();
    for (let i = 0; i < threshold - 1; i++) await expect(h.signIn.login(u.email, WRONG, {})).rejects.toBeInstanceOf(InvalidCredentialsError);
    await h.platform.resolve(LoginThrottle).reset({ email: u.email });
    const signedIn = await h.signIn.login(u.email, PASSWORD, {});
    expect(signedIn.status).toBe('signed_in');
    expect(await h.platform.resolve(UserRepository).getById(u.userId)).toMatchObject({ failedLoginCount: 0, lockedUntil: null });
    expect(h.notifier.notices.filter((n) => n.userId === u.userId)).toEqual([]);
  });
});
