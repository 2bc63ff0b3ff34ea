import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderKeySchemaMarkdown, REDIS_KEY_SCHEMA } from '../../src/redis/redis-keys.js';
import { REDIS_SCRIPTS, renderScriptsMarkdown } from '../../src/redis/scripts/redis-scripts.js';

const doc = readFileSync(new URL('../../docs/sessions.md', import.meta.url), 'utf8');

function section(name: string): string | undefined {
  return new RegExp(`<!-- generated:${name} -->\\n([\\s\\S]*?)\\n<!-- /generated:${name} -->`).exec(doc)?.[1];
}

describe('docs/sessions.md', () => {
  it('shows the key schema as exported by RedisKeys', () => {
    expect(section('key-schema')).toBe(renderKeySchemaMarkdown());
  });

  it('shows every Lua script as defined', () => {
    expect(section('scripts')).toBe(renderScriptsMarkdown());
  });
});

describe('key schema and scripts', () => {
  it('gives every key except queues a TTL and unique names', () => {
    expect(new Set(REDIS_KEY_SCHEMA.map((k) => k.name)).size).toBe(REDIS_KEY_SCHEMA.length);
    for (const k of REDIS_KEY_SCHEMA.filter((k) => k.type !== 'bullmq')) expect(k.ttl).not.toMatch(/^none/);
  });

  it('starts every script with a header naming each KEYS and ARGV slot', () => {
    for (const s of REDIS_SCRIPTS) {
      expect(s.lua.startsWith(`-- ${s.name}:`)).toBe(true);
      s.keys.forEach((k, i) => expect(s.lua).toContain(`KEYS[${i + 1}] ${k.name}`));
      s.argv.forEach((a, i) => expect(s.lua).toContain(`ARGV[${i + 1}] ${a.name}`));
      // No slot beyond the documented ones is used.
      const used = [...s.body.matchAll(/(KEYS|ARGV)\[(\d+)\]/g)].map((m) => ({ kind: m[1], n: Number(m[2]) }));
      for (const u of used) expect(u.n).toBeLessThanOrEqual(u.kind === 'KEYS' ? s.keys.length : s.argv.length);
    }
  });
});
