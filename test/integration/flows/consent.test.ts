import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { ValidationError } from '../../../src/errors.js';
import { ageInYears, ConsentService } from '../../../src/flows/privacy/consent-service.js';
import { SignUpService } from '../../../src/flows/auth/sign-up-service.js';
import { UserRepository } from '../../../src/postgres/repositories/user-repository.js';
import { test } from '../../support/fixtures.js';

test.override('envOverrides', { MINIMUM_AGE: '13' });

let consent: ConsentService;

test.beforeAll(async ({ postgres: h }) => {
  consent = h.platform.resolve(ConsentService);
});

const yearsAgo = (n: number) => new Date(Date.UTC(new Date().getUTCFullYear() - n, 0, 1));
const email = () => `c-${Math.random().toString(36).slice(2)}@example.test`;

function paths(error: unknown): string[] {
  return error instanceof ValidationError ? error.issues.map((i) => i.path) : [];
}

describe('COPPA and consent', () => {
  test('refuses a user under the minimum age without guardian consent, naming guardianConsent', async () => {
    const error = await consent.createUser({ email: email(), birthDate: yearsAgo(10) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(paths(error)).toEqual(['guardianConsent']);
  });

  test('self-service sign-up applies the same rule before writing anything, and records the consents it was given', async ({ postgres: h }) => {
    const signUp = h.platform.resolve(SignUpService);
    const child = email();
    const base = { password: 'Correct-Horse-Battery-9', organizationName: 'Kids Club' };
    expect(paths(await signUp.signUp({ ...base, email: child, birthDate: yearsAgo(10) }).catch((e: unknown) => e))).toEqual(['guardianConsent']);
    expect(paths(await signUp.signUp({ ...base, email: child }).catch((e: unknown) => e))).toEqual(['ageConfirmed']);
    expect(await h.platform.resolve(UserRepository).findCredentialsByEmail(child)).toBeUndefined();
    const adultEmail = email();
    expect(await signUp.signUp({ ...base, email: adultEmail, ageConfirmed: true, termsVersion: '2026-01' })).toEqual({ accepted: true });
    const adult = await h.platform.resolve(UserRepository).findCredentialsByEmail(adultEmail);
    const kinds = (await consent.history(adult!.user.id)).map((e) => e.kind).sort();
    expect(kinds).toEqual(['age_confirmation', 'terms']);
  });

  test('refuses a user with neither a birth date nor an age confirmation, naming ageConfirmed', async () => {
    expect(paths(await consent.createUser({ email: email() }).catch((e: unknown) => e))).toEqual(['ageConfirmed']);
  });

  test('creates a minor with verified guardian consent: no age confirmation, a guardian event without guardian identity', async () => {
    const { user, consents } = await consent.createUser({
      email: email(),
      birthDate: yearsAgo(10),
      guardianConsent: { granted: true, method: 'signed_form', reference: 'case-42' },
      termsVersion: 't1',
    });
    expect(user.ageConfirmedAt).toBeNull();
    expect(consents.map((c) => c.kind)).toEqual(['terms', 'guardian']);
    expect(consents[1]?.details).toEqual({ method: 'signed_form', reference: 'case-42' });
  });

  test('keeps the history of grants and withdrawals and the current consent on the user', async ({ postgres: h }) => {
    const { user } = await consent.createUser({
      email: email(),
      birthDate: yearsAgo(30),
      termsVersion: 't1',
      privacyVersion: 'p1',
      marketingConsentVersion: 'm1',
    });
    expect(user.ageConfirmedAt).not.toBeNull();
    await consent.recordConsent(user.id, { kind: 'marketing', granted: false, source: 'settings' });
    await consent.recordConsent(user.id, { kind: 'terms', version: 't2', granted: true, source: 'settings' });
    const history = await consent.history(user.id);
    expect(history.map((e) => `${e.kind}:${e.version ?? '-'}:${e.granted}`)).toEqual([
      'terms:t1:true',
      'privacy:p1:true',
      'marketing:m1:true',
      'age_confirmation:-:true',
      'marketing:-:false',
      'terms:t2:true',
    ]);
    const current = await h.platform.resolve(UserRepository).getById(user.id);
    expect(current).toMatchObject({ marketingConsentVersion: null, marketingConsentAt: null, termsVersion: 't2' });
    expect(paths(await consent.recordConsent(user.id, { kind: 'privacy', granted: true }).catch((e: unknown) => e))).toEqual(['version']);
  });

  test('computes whole years on the UTC calendar', () => {
    expect(ageInYears(new Date(Date.UTC(2010, 5, 15)), new Date(Date.UTC(2023, 5, 14)))).toBe(12);
    expect(ageInYears(new Date(Date.UTC(2010, 5, 15)), new Date(Date.UTC(2023, 5, 15)))).toBe(13);
  });
});
