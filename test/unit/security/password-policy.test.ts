import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/errors.js';
import { commonPasswords } from '../../../src/security/common-passwords.js';
import { PasswordHasher } from '../../../src/security/password-hasher.js';
import {
  PasswordPolicy,
  isCommonPassword,
  type PasswordCheckContext,
  type PasswordPolicyInput,
  type PasswordRule,
} from '../../../src/security/password-policy.js';

const hasher = new PasswordHasher({ auth: { bcryptCost: 4 } });
const policy = new PasswordPolicy(hasher);
const rules = async (password: string, context?: PasswordCheckContext, options?: PasswordPolicyInput): Promise<PasswordRule[]> =>
  (await policy.check(password, context, options)).violations.map((v) => v.rule);

describe('PasswordPolicy', () => {
  it('accepts a strong password', async () => {
    await expect(policy.check('Tr1cky-Quokka-Lamp', { email: 'ada@example.com' })).resolves.toEqual({ ok: true, violations: [] });
    await expect(policy.assert('Tr1cky-Quokka-Lamp')).resolves.toBeUndefined();
  });

  it('enforces minimum and maximum length', async () => {
    expect(await rules('Sh0rt!pw')).toEqual(['tooShort']);
    expect(await rules('')).toContain('tooShort');
    expect(await rules(`Aa1!${'x'.repeat(61)}`)).toEqual(['tooLong']);
    expect(await rules('Sh0rt!pw', {}, { minLength: 8 })).toEqual([]);
  });

  it('requires the configured character classes (defaults: lower, upper, digit) and names the missing ones', async () => {
    const result = await policy.check('alllowercaseword');
    expect(result.violations).toEqual([{ rule: 'characterClasses', message: 'Password must contain an upper-case letter, a digit' }]);
    expect(await rules('alllowercaseword', {}, { requireUppercase: false, requireDigit: false })).toEqual([]);
    expect(await rules('Quokka lamp velvet 7')).toEqual([]);
    expect(await rules('QuokkaLampVelvet7', {}, { requireSymbol: true })).toEqual(['characterClasses']);
    expect(await rules('QuokkaLampVelvet7!', {}, { requireSymbol: true })).toEqual([]);
  });

  it('rejects passwords containing the email local part (case-insensitive, +tags ignored)', async () => {
    expect(await rules('Xx-AdaLovelace-9', { email: 'adalovelace@example.com' })).toEqual(['containsEmail']);
    expect(await rules('Xx-AdaLovelace-9', { email: 'adalovelace+work@example.com' })).toEqual(['containsEmail']);
    // A two-letter local part would forbid too much.
    expect(await rules('Xx-AdaLovelace-9', { email: 'ad@example.com' })).toEqual([]);
  });

  it('rejects common breached passwords from the shipped list, with predictable suffixes', async () => {
    expect(isCommonPassword('password')).toBe(true);
    expect(isCommonPassword('PassWord')).toBe(true);
    expect(isCommonPassword('Sunshine2024!')).toBe(true);
    expect(isCommonPassword('Tr1cky-Quokka-Lamp')).toBe(false);
    expect(await rules('Password123!')).toEqual(['common']);
    expect(await rules('Password123!', {}, { rejectCommon: false })).toEqual([]);
    expect(await rules('qwertyuiop')).toEqual(['tooShort', 'characterClasses', 'common']);
  });

  it('ships a list of at least 10,000 entries', () => {
    const entries = [...commonPasswords()];
    expect(entries.length).toBeGreaterThanOrEqual(10_000);
    expect(entries.slice(0, 3)).toEqual(['123456', 'password', '12345678']);
  });

  it('rejects reuse of a password in the history', async () => {
    const previousHashes = await Promise.all(['Old-Passw0rd-One', 'Old-Passw0rd-Two'].map((p) => hasher.hash(p)));
    expect(await rules('Old-Passw0rd-Two', { previousHashes })).toEqual(['reused']);
    expect(await rules('Brand-New-Quokka-7', { previousHashes })).toEqual([]);
    // A corrupt history row does not block the change.
    expect(await rules('Brand-New-Quokka-7', { previousHashes: ['corrupt', ...previousHashes] })).toEqual([]);
  });

  it('reports bcrypt encoding problems as a rule', async () => {
    expect(await rules('Abc-123-\0-defghij')).toEqual(['encoding']);
    expect(await rules('€'.repeat(25) + 'Aa1')).toEqual(['encoding']);
  });

  it('lists every violated rule at once, and assert throws ValidationError naming password', async () => {
    const error = await policy.assert('ada', { email: 'ada@example.com', previousHashes: [await hasher.hash('ada')] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const validation = error as ValidationError;
    expect(validation.fields).toEqual(['password']);
    expect(validation.issues.map((i) => i.code)).toEqual(['tooShort', 'characterClasses', 'containsEmail', 'reused']);
    expect(validation.message).not.toContain('ada@');
  });

  it('rejects invalid options with ValidationError naming the option', async () => {
    const error = await policy.check('whatever', {}, { minLength: 40, maxLength: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields).toEqual(['minLength']);
  });
});
