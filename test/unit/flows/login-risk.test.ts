import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { scoreFailedLoginRisk, scoreLoginRisk } from '../../../src/flows/auth/login-risk.js';
import { slugFor } from '../../../src/flows/auth/account-creation.js';

describe('scoreLoginRisk', () => {
  it('adds new IP, new device and failures, only new-ness of accounts with history counts', () => {
    expect(scoreLoginRisk({ hasHistory: true, newIp: false, newDevice: false, recentFailures: 0 })).toBe(0);
    expect(scoreLoginRisk({ hasHistory: true, newIp: true, newDevice: true, recentFailures: 0 })).toBe(50);
    expect(scoreLoginRisk({ hasHistory: false, newIp: true, newDevice: true, recentFailures: 2 })).toBe(20);
    expect(scoreLoginRisk({ hasHistory: true, newIp: true, newDevice: true, recentFailures: 99 })).toBe(90);
  });

  it('scores failures up to 90', () => {
    expect(scoreFailedLoginRisk(0)).toBe(10);
    expect(scoreFailedLoginRisk(3)).toBe(40);
    expect(scoreFailedLoginRisk(1000)).toBe(90);
  });
});

describe('slugFor', () => {
  it('makes a valid slug with a random suffix', () => {
    expect(slugFor('Acme Corp!')).toMatch(/^acme-corp-[0-9a-f]{6}$/);
    expect(slugFor('Ünïcodé ☃')).toMatch(/^unicode-[0-9a-f]{6}$/);
    expect(slugFor('!!!')).toMatch(/^org-[0-9a-f]{6}$/);
    expect(slugFor('x'.repeat(100)).length).toBeLessThanOrEqual(63);
  });
});
