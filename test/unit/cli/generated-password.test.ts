import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { generatedPassword } from '../../../src/cli/commands/seed-database.js';
import { PasswordHasher } from '../../../src/security/password-hasher.js';
import { PasswordPolicy, type PasswordCheckResult } from '../../../src/security/password-policy.js';

/**
 * `db seed` generates the admin's and the member's passwords; AccountCreation then checks the admin's against the
 * default password policy. A single draw of 18 random bytes (24 base64url characters) has no digit with
 * probability (54/64)^24 ≈ 1.7 %, and the default policy requires one: the CI run of 2026-12-07 14:33 failed
 * `db-command.test.ts` with `db seed` exiting 2 (VALIDATION_FAILED) that way. The judge here is the policy itself.
 */
describe('generatedPassword (db seed)', () => {
  const policy = new PasswordPolicy(new PasswordHasher());

  it('returns only passwords the default policy accepts for the account, over 2,000 draws', async () => {
    const refused: string[] = [];
    for (let i = 0; i < 2_000; i++) {
      const password = await generatedPassword(policy, 'admin@example.com');
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      const result = await policy.check(password, { email: 'admin@example.com' });
      if (!result.ok) refused.push(result.violations.map((v) => v.rule).join(','));
    }
    expect(refused).toEqual([]);
  });

  it('draws again while the policy refuses, and gives up with CONFIG_INVALID on a policy no draw can meet', async () => {
    let calls = 0;
    const refusesThree = { check: async (): Promise<PasswordCheckResult> => ({ ok: ++calls > 3, violations: [] }) } as unknown as PasswordPolicy;
    await expect(generatedPassword(refusesThree, 'a@example.com')).resolves.toMatch(/\S{24}/);
    expect(calls).toBe(4);
    const refusesAll = {
      check: async (): Promise<PasswordCheckResult> => ({ ok: false, violations: [{ rule: 'tooShort', message: 'm' }] }),
    } as unknown as PasswordPolicy;
    await expect(generatedPassword(refusesAll, 'a@example.com')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
