import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { CryptoError, ValidationError } from '../../../src/errors.js';
import { TOTP_PERIOD_SECONDS, Totp } from '../../../src/security/totp.js';

const totp = new Totp();
const at = (seconds: number) => new Date(seconds * 1000);
// Mid-step, so that ±15 s stays within the same step.
const T = 1_800_000_015;
const step = Math.floor(T / TOTP_PERIOD_SECONDS);

describe('Totp', () => {
  const secret = totp.generateSecret();

  it('generates 160-bit Base32 secrets and an otpauth URI', () => {
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = totp.keyUri({ secret, issuer: 'Acme Co', accountName: 'ada@example.com' });
    expect(uri.startsWith('otpauth://totp/Acme%20Co:ada%40example.com?')).toBe(true);
    const params = new URL(uri).searchParams;
    expect(params.get('secret')).toBe(secret);
    expect(params.get('issuer')).toBe('Acme Co');
    expect(() => totp.keyUri({ secret, issuer: 'a:b', accountName: '' })).toThrow(ValidationError);
  });

  it('accepts the current code and reports its time step', async () => {
    const code = await totp.generate(secret, at(T));
    await expect(totp.verify(secret, code, { now: at(T) })).resolves.toEqual({ valid: true, timeStep: step, delta: 0 });
    // Spaces as authenticator apps display them ("123 456") are ignored.
    await expect(totp.verify(secret, `${code.slice(0, 3)} ${code.slice(3)}`, { now: at(T) })).resolves.toMatchObject({ valid: true });
  });

  it('accepts codes of the adjacent steps and rejects older or newer ones', async () => {
    const previous = await totp.generate(secret, at(T - 30));
    const next = await totp.generate(secret, at(T + 30));
    await expect(totp.verify(secret, previous, { now: at(T) })).resolves.toEqual({ valid: true, timeStep: step - 1, delta: -1 });
    await expect(totp.verify(secret, next, { now: at(T) })).resolves.toEqual({ valid: true, timeStep: step + 1, delta: 1 });
    const old = await totp.generate(secret, at(T - 60));
    const future = await totp.generate(secret, at(T + 60));
    // A collision between two random 6-digit codes would make this flaky one time in a million.
    if (old !== (await totp.generate(secret, at(T)))) {
      await expect(totp.verify(secret, old, { now: at(T) })).resolves.toEqual({ valid: false, reason: 'mismatch' });
    }
    if (future !== (await totp.generate(secret, at(T)))) {
      await expect(totp.verify(secret, future, { now: at(T) })).resolves.toEqual({ valid: false, reason: 'mismatch' });
    }
  });

  it('supports replay protection through afterTimeStep', async () => {
    const code = await totp.generate(secret, at(T));
    const first = await totp.verify(secret, code, { now: at(T) });
    expect(first.valid).toBe(true);
    const lastStep = first.valid ? first.timeStep : -1;
    await expect(totp.verify(secret, code, { now: at(T + 10), afterTimeStep: lastStep })).resolves.toEqual({ valid: false, reason: 'replayed' });
    // An earlier step's code is also refused once a later step was used.
    const previous = await totp.generate(secret, at(T - 30));
    await expect(totp.verify(secret, previous, { now: at(T), afterTimeStep: lastStep })).resolves.toMatchObject({ valid: false });
    // The next step's code still works.
    const next = await totp.generate(secret, at(T + 30));
    await expect(totp.verify(secret, next, { now: at(T + 30), afterTimeStep: lastStep })).resolves.toMatchObject({ valid: true, timeStep: step + 1 });
  });

  it('returns malformed for codes that are not 6 digits, without throwing', async () => {
    for (const code of ['', '12345', '1234567', 'abcdef', '12345a']) {
      await expect(totp.verify(secret, code, { now: at(T) })).resolves.toEqual({ valid: false, reason: 'malformed' });
    }
  });

  it('throws CryptoError for a malformed or too short stored secret', async () => {
    await expect(totp.verify('not base32 !!', '123456')).rejects.toBeInstanceOf(CryptoError);
    await expect(totp.verify('JBSWY3DPEHPK3PXP', '123456')).rejects.toBeInstanceOf(CryptoError);
    await expect(totp.generate('JBSWY3DPEHPK3PXP')).rejects.toBeInstanceOf(CryptoError);
  });
});
