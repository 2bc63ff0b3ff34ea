import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ConfigError, CryptoError, ValidationError } from '../../../src/errors.js';
import { Secret } from '../../../src/secret.js';
import { SecretBox } from '../../../src/security/secret-box.js';
import { CONFIG } from '../../../src/tokens.js';

const k1 = { id: 'k1', key: new Secret(randomBytes(32)) };
const k2 = { id: 'k2', key: new Secret(randomBytes(32)) };
const ring = (keys: (typeof k1)[], activeKeyId: string) => new SecretBox({ encryption: { keys, activeKeyId } });
const AAD = 'identities:7b1f9c9e-0000-4000-8000-000000000001:access_token';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('SecretBox', () => {
  const box = ring([k1], 'k1');

  it('round-trips strings and bytes with a fresh IV each time', () => {
    const a = box.encrypt('gho_secret-access-token', AAD);
    const b = box.encrypt('gho_secret-access-token', AAD);
    expect(a.equals(b)).toBe(false);
    expect(box.decryptString(a, AAD)).toBe('gho_secret-access-token');
    const bytes = randomBytes(100);
    expect(box.decrypt(box.encrypt(bytes, AAD), AAD).equals(bytes)).toBe(true);
    expect(box.decryptString(box.encrypt('', AAD), AAD)).toBe('');
  });

  it('writes the documented envelope layout', () => {
    const envelope = box.encrypt('hello', AAD);
    expect(envelope[0]).toBe(1); // version
    expect(envelope[1]).toBe(2); // key id length
    expect(envelope.subarray(2, 4).toString('ascii')).toBe('k1');
    expect(envelope).toHaveLength(1 + 1 + 2 + 12 + 5 + 16);
    expect(envelope.includes(Buffer.from('hello'))).toBe(false);
    expect(box.keyIdOf(envelope)).toBe('k1');
  });

  it('fails with CryptoError under another AAD (value moved to another row or column)', () => {
    const envelope = box.encrypt('token', AAD);
    expect(() => box.decrypt(envelope, AAD.replace('0001', '0002'))).toThrow(CryptoError);
    expect(() => box.decrypt(envelope, AAD.replace('access_token', 'refresh_token'))).toThrow(CryptoError);
  });

  it('detects a flipped bit anywhere in the envelope, without leaking plaintext or key', () => {
    const envelope = box.encrypt('top secret plaintext', AAD);
    for (let i = 0; i < envelope.length; i++) {
      const tampered = Buffer.from(envelope);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      const error = thrown(() => box.decrypt(tampered, AAD));
      expect(error, `byte ${i}`).toBeInstanceOf(CryptoError);
      const message = (error as Error).message;
      expect(message).not.toContain('top secret');
      expect(message).not.toContain(k1.key.reveal().toString('base64'));
    }
  });

  it('rejects truncated, unknown-version and unknown-key envelopes with CryptoError', () => {
    const envelope = box.encrypt('x', AAD);
    expect(() => box.decrypt(envelope.subarray(0, 20), AAD)).toThrow(CryptoError);
    expect(() => box.decrypt(Buffer.alloc(0), AAD)).toThrow(CryptoError);
    const v9 = Buffer.from(envelope);
    v9[0] = 9;
    expect(() => box.decrypt(v9, AAD)).toThrow(/version 9/);
    const fromK2 = ring([k2], 'k2').encrypt('x', AAD);
    const error = thrown(() => box.decrypt(fromK2, AAD));
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as Error).message).toContain('"k2"');
  });

  it('requires an AAD', () => {
    expect(() => box.encrypt('x', '')).toThrow(ValidationError);
    expect(() => box.decrypt(box.encrypt('x', AAD), '')).toThrow(ValidationError);
  });

  it('rotates: k1 envelopes still decrypt under [k1, k2] active k2, and reencrypt moves them to k2', () => {
    const old = ring([k1], 'k1').encrypt('rotating secret', AAD);
    const rotated = ring([k1, k2], 'k2');
    expect(rotated.decryptString(old, AAD)).toBe('rotating secret');
    expect(rotated.needsReencrypt(old)).toBe(true);

    const moved = rotated.reencrypt(old, AAD);
    expect(rotated.keyIdOf(moved)).toBe('k2');
    expect(rotated.needsReencrypt(moved)).toBe(false);
    expect(rotated.decryptString(moved, AAD)).toBe('rotating secret');
    // Reencrypting an up-to-date envelope is a no-op, so the job can skip the write.
    expect(rotated.reencrypt(moved, AAD).equals(moved)).toBe(true);
    // After k1 is removed from the ring, the moved value still decrypts; the old one does not.
    const k2Only = ring([k2], 'k2');
    expect(k2Only.decryptString(moved, AAD)).toBe('rotating secret');
    expect(() => k2Only.decrypt(old, AAD)).toThrow(CryptoError);
  });

  it('reencrypt refuses a tampered envelope even when it is already on the active key', () => {
    const envelope = box.encrypt('x', AAD);
    const tampered = Buffer.from(envelope);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0xff;
    expect(() => box.reencrypt(tampered, AAD)).toThrow(CryptoError);
  });

  it('validates the key ring', () => {
    expect(() => ring([k1], 'k2')).toThrow(ConfigError);
    expect(() => ring([{ id: 'short', key: new Secret(randomBytes(16)) }], 'short')).toThrow(ConfigError);
    expect(() => ring([k1, k1], 'k1')).toThrow(ConfigError);
  });

  it('resolves from the container with the configured ring', () => {
    const key = randomBytes(32).toString('base64');
    const config = loadConfig({ PLATFORM_ENCRYPTION_KEYS: `old:${randomBytes(32).toString('base64')},new:${key}`, PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: 'new' });
    const child = container.createChildContainer();
    child.register(CONFIG, { useValue: config });
    const fromDi = child.resolve(SecretBox);
    expect(fromDi.activeKeyId).toBe('new');
    expect(fromDi.keyIdOf(fromDi.encrypt('v', AAD))).toBe('new');
  });
});
