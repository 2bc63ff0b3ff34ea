import 'reflect-metadata';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ValidationError } from '../../../src/errors.js';
import { LockoutPolicy } from '../../../src/security/lockout-policy.js';
import { CONFIG } from '../../../src/tokens.js';

describe('LockoutPolicy', () => {
  it('takes threshold and lock time from config (defaults 5 and 900 s)', () => {
    const child = container.createChildContainer();
    child.register(CONFIG, { useValue: loadConfig({ PLATFORM_ENV: 'test' }) });
    const policy = child.resolve(LockoutPolicy);
    expect(policy.threshold).toBe(5);
    expect(policy.lockSeconds).toBe(900);
  });

  it('interprets locked_until', () => {
    const policy = new LockoutPolicy({ auth: { lockoutThreshold: 3, lockoutSeconds: 60 } });
    const now = new Date('2026-01-01T00:00:00Z');
    expect(policy.isLocked(null, now)).toBe(false);
    expect(policy.isLocked(new Date(now.getTime() + 1000), now)).toBe(true);
    expect(policy.isLocked(now, now)).toBe(false);
    expect(policy.remainingMs(new Date(now.getTime() + 1500), now)).toBe(1500);
    expect(policy.remainingMs(new Date(now.getTime() - 1500), now)).toBe(0);
    expect(policy.remainingMs(undefined, now)).toBe(0);
  });

  it('refuses a non-positive threshold', () => {
    expect(() => new LockoutPolicy({ auth: { lockoutThreshold: 0, lockoutSeconds: 60 } })).toThrow(ValidationError);
  });
});
