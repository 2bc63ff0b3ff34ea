import { describe, expect, it } from 'vitest';
import { TokenError, ValidationError } from '../../../src/errors.js';
import { generateApiKey, generateSecretToken, hashToken, parseApiKey, tokenMatchesHash, tokensEqual } from '../../../src/security/secret-token.js';

describe('secret tokens', () => {
  it('generates base64url tokens of at least 32 bytes, all distinct', () => {
    const tokens = Array.from({ length: 100 }, () => generateSecretToken());
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
    expect(new Set(tokens).size).toBe(100);
    expect(Buffer.from(generateSecretToken(48), 'base64url')).toHaveLength(48);
    expect(() => generateSecretToken(16)).toThrow(ValidationError);
  });

  it('hashes with SHA-256 to a 32-byte Buffer (known vector)', () => {
    const hash = hashToken('abc');
    expect(hash).toBeInstanceOf(Buffer);
    expect(hash.toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('compares equal and unequal values, including different lengths, without throwing', () => {
    expect(tokensEqual('same', 'same')).toBe(true);
    expect(tokensEqual('same', 'sama')).toBe(false);
    expect(tokensEqual('short', 'a much longer value')).toBe(false);
    expect(tokensEqual(hashToken('x'), hashToken('x'))).toBe(true);
    expect(tokensEqual(hashToken('x'), hashToken('y'))).toBe(false);
    const token = generateSecretToken();
    expect(tokenMatchesHash(token, hashToken(token))).toBe(true);
    expect(tokenMatchesHash(`${token}x`, hashToken(token))).toBe(false);
  });
});

describe('API keys', () => {
  it('generates pd_<prefix>_<secret> keys whose stored hash matches the parsed secret', () => {
    const { key, prefix, secretHash } = generateApiKey();
    expect(key).toMatch(/^pd_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(key);
    expect(parsed.prefix).toBe(prefix);
    expect(tokensEqual(parsed.secretHash, secretHash)).toBe(true);
    expect(key.endsWith(parsed.secret)).toBe(true);
  });

  it('parses secrets that contain the "_" separator', () => {
    const key = `pd_0123456789abcdef_${'_'.repeat(10)}${'A'.repeat(33)}`;
    expect(parseApiKey(key).secret).toBe(`${'_'.repeat(10)}${'A'.repeat(33)}`);
  });

  it('rejects malformed keys with TokenError, without echoing them', () => {
    for (const bad of ['', 'pd_', 'pd_xyz_abc', `sk_0123456789abcdef_${'A'.repeat(43)}`, `pd_0123456789abcdef_${'A'.repeat(42)}`]) {
      const error = (() => {
        try {
          parseApiKey(bad);
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(TokenError);
      expect((error as TokenError).reason).toBe('invalid');
      if (bad.length > 5) expect((error as Error).message).not.toContain(bad);
    }
  });

  it('a key with a tampered secret does not match the stored hash', () => {
    const { key, secretHash } = generateApiKey();
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    expect(tokensEqual(parseApiKey(key.slice(0, -1) + last).secretHash, secretHash)).toBe(false);
  });
});
