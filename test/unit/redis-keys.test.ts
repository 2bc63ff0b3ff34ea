import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ValidationError } from '../../src/errors.js';
import { RedisKeys } from '../../src/redis/redis-keys.js';

const keys = new RedisKeys(loadConfig({ REDIS_KEY_PREFIX: 'app:', LOG_LEVEL: 'silent' }));

/** The Cluster hash tag of a key (the first {…} with content), as Redis computes the slot from it. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('RedisKeys', () => {
  it('prefixes every key and keeps per-user session keys in one slot', () => {
    const userKeys = [
      keys.sessionRecord('u1', 's1'),
      keys.sessionAccessToken('u1', 'j1'),
      keys.sessionDenylist('u1', 'j1'),
      keys.sessionEpoch('u1'),
      keys.sessionIndex('u1'),
    ];
    for (const k of userKeys) {
      expect(k.startsWith('app:')).toBe(true);
      expect(hashTag(k)).toBe('user:u1');
    }
    expect(keys.sessionRecord('u1', 's1')).toBe(`${keys.sessionRecordPrefix('u1')}s1`);
  });

  it('tags tenant keys with the organization', () => {
    expect(hashTag(keys.rateLimitApiKey('o1', 'k1'))).toBe('org:o1');
    expect(hashTag(keys.cache('settings', 'o1'))).toBe('org:o1');
    expect(hashTag(keys.voice('o1', 'a'.repeat(64)))).toBe('org:o1');
    expect(keys.queuePrefix('ingestion')).toBe('app:{q:ingestion}');
  });

  it('hashes emails and IPs', () => {
    expect(keys.loginAccount('Bob@Example.com')).toBe(keys.loginAccount(' bob@example.com'));
    expect(keys.loginAccount('bob@example.com')).not.toContain('bob');
    expect(keys.loginIp('10.0.0.1')).not.toContain('10.0.0.1');
  });

  it('refuses ids that would change the hash tag or alias other keys', () => {
    for (const bad of ['a}b', '{x}', 'a:b', 'a b', '']) {
      expect(() => keys.sessionRecord(bad, 's')).toThrow(ValidationError);
    }
    expect(() => keys.voice('o1', 'not-a-hash')).toThrow(ValidationError);
  });
});
