import 'reflect-metadata';
import bcrypt from 'bcrypt';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { CryptoError, ValidationError } from '../../../src/errors.js';
import { PasswordHasher } from '../../../src/security/password-hasher.js';
import { CONFIG } from '../../../src/tokens.js';

const fast = new PasswordHasher({ auth: { bcryptCost: 4 } });

describe('PasswordHasher', () => {
  it('hashes and verifies', async () => {
    const hash = await fast.hash('correct horse battery staple');
    expect(hash).toMatch(/^\$2b\$04\$/);
    await expect(fast.verify('correct horse battery staple', hash)).resolves.toBe(true);
    await expect(fast.verify('correct horse battery stapl', hash)).resolves.toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([fast.hash('same password'), fast.hash('same password')]);
    expect(a).not.toBe(b);
  });

  it('uses the configured default cost (12) when resolved from the container', async () => {
    const child = container.createChildContainer();
    child.register(CONFIG, { useValue: loadConfig({ PLATFORM_ENV: 'test' }) });
    const hasher = child.resolve(PasswordHasher);
    expect(hasher.cost).toBe(12);
    const hash = await hasher.hash('a default cost password');
    expect(bcrypt.getRounds(hash)).toBe(12);
    expect(hasher.needsRehash(hash)).toBe(false);
  });

  it('needsRehash when the cost differs, the variant is old or the value is not bcrypt', async () => {
    const hash = await fast.hash('pw-for-rehash');
    expect(fast.needsRehash(hash)).toBe(false);
    expect(new PasswordHasher({ auth: { bcryptCost: 5 } }).needsRehash(hash)).toBe(true);
    expect(fast.needsRehash(hash.replace(/^\$2b\$/, '$2a$'))).toBe(true);
    expect(fast.needsRehash('plaintext')).toBe(true);
  });

  it('rejects passwords over 72 UTF-8 bytes instead of truncating them', async () => {
    await expect(fast.hash('a'.repeat(72))).resolves.toMatch(/^\$2b\$/);
    const error = await fast.hash('a'.repeat(73)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields).toEqual(['password']);
    // 24 three-byte characters = 72 bytes: fine; 25 = 75 bytes: refused although only 25 characters.
    await expect(fast.hash('€'.repeat(24))).resolves.toBeTypeOf('string');
    await expect(fast.hash('€'.repeat(25))).rejects.toBeInstanceOf(ValidationError);
  });

  it('a 73-byte password does not verify against the hash of its first 72 bytes', async () => {
    const hash = await fast.hash('b'.repeat(72));
    await expect(fast.verify('b'.repeat(73), hash)).resolves.toBe(false);
  });

  it('rejects NUL bytes and empty passwords', async () => {
    await expect(fast.hash('abc\0def')).rejects.toBeInstanceOf(ValidationError);
    await expect(fast.hash('')).rejects.toBeInstanceOf(ValidationError);
    const hash = await fast.hash('abc');
    await expect(fast.verify('abc\0def', hash)).resolves.toBe(false);
  });

  it('normalises Unicode (NFKC), so composed and decomposed accents match', async () => {
    const hash = await fast.hash('caf\u00e9 au lait');
    await expect(fast.verify('cafe\u0301 au lait', hash)).resolves.toBe(true);
  });

  it('throws CryptoError for a stored value that is not a bcrypt hash, without echoing it', async () => {
    const error = await fast.verify('pw', 'not-a-hash-secret').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as Error).message).not.toContain('not-a-hash-secret');
  });

  it('verifyDummy returns false and costs about as much as a real verify', async () => {
    const hasher = new PasswordHasher({ auth: { bcryptCost: 8 } });
    const hash = await hasher.hash('real password');
    await hasher.verifyDummy('warm-up'); // the dummy hash is made lazily on first use
    // Interleaved samples, so load from other test workers hits both sides alike.
    const real: number[] = [];
    const dummy: number[] = [];
    const time = async (fn: () => Promise<unknown>, into: number[]) => {
      const start = performance.now();
      await fn();
      into.push(performance.now() - start);
    };
    for (let i = 0; i < 9; i++) {
      await time(() => hasher.verify('wrong password', hash), real);
      await time(() => hasher.verifyDummy('wrong password'), dummy);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const ratio = median(dummy) / median(real);
    await expect(hasher.verifyDummy('real password')).resolves.toBe(false);
    // Loose bounds: both are one bcrypt round of cost 8; a missing dummy would be ~100x faster.
    expect(ratio).toBeGreaterThan(0.25);
    expect(ratio).toBeLessThan(4);
  });

  it('refuses an out-of-range cost', () => {
    expect(() => new PasswordHasher({ auth: { bcryptCost: 3 } })).toThrow(ValidationError);
  });
});
