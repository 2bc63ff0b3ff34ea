import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/errors.js';
import { generateRecoveryCodes, hashRecoveryCode, matchRecoveryCode, normalizeRecoveryCode } from '../../../src/security/recovery-codes.js';
import { tokensEqual } from '../../../src/security/secret-token.js';

describe('recovery codes', () => {
  it('generates N distinct human-friendly codes with their hashes', () => {
    const { codes, hashes } = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(hashes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
    expect(generateRecoveryCodes(3).codes).toHaveLength(3);
    expect(() => generateRecoveryCodes(0)).toThrow(ValidationError);
  });

  it('hashes typed codes tolerantly: case, spaces, missing hyphens, o/0 and i/l/1 confusions', () => {
    const { codes, hashes } = generateRecoveryCodes(1);
    const code = codes[0] ?? '';
    const stored = hashes[0] ?? Buffer.alloc(0);
    expect(tokensEqual(hashRecoveryCode(code), stored)).toBe(true);
    expect(tokensEqual(hashRecoveryCode(` ${code.toUpperCase().replace(/-/g, ' ')} `), stored)).toBe(true);
    expect(normalizeRecoveryCode('0000-1111-aaaa-zzzz')).toBe('0000-1111-aaaa-zzzz');
    expect(normalizeRecoveryCode('OoOo-IiLl-aaaa-zzzz')).toBe('0000-1111-aaaa-zzzz');
    expect(normalizeRecoveryCode('uuuu-1111-aaaa-zzzz')).toBeUndefined();
    expect(normalizeRecoveryCode('0000-1111-aaaa')).toBeUndefined();
    expect(() => hashRecoveryCode('nope')).toThrow(ValidationError);
  });

  it('matches each code once: a consumed code no longer matches what remains', () => {
    const { codes, hashes } = generateRecoveryCodes(5);
    const remaining = [...hashes];
    const code = codes[2] ?? '';
    const index = matchRecoveryCode(code, remaining);
    expect(index).toBe(2);
    remaining.splice(index, 1); // what the repository's single-use UPDATE does to the set of usable codes
    expect(matchRecoveryCode(code, remaining)).toBe(-1);
    expect(matchRecoveryCode(codes[3] ?? '', remaining)).toBe(2);
    expect(matchRecoveryCode('not a code', remaining)).toBe(-1);
  });
});
