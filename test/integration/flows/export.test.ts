import 'reflect-metadata';
import { describe, expect } from 'vitest';
import { NotFoundError } from '../../../src/errors.js';
import { UserExporter, type ExportManifest } from '../../../src/flows/privacy/user-exporter.js';
import { seedUserEverywhere } from '../../support/privacy-fixture.js';
import { test } from '../../support/fixtures.js';

interface Line {
  kind: string;
  store: string;
  data: Record<string, unknown>;
}

describe('exportUser', () => {
  test('lists every item seeded in the four stores, with a manifest of counts and no secrets', async ({ privacy: { platform } }) => {
    const seeded = await seedUserEverywhere(platform);
    const raw: string[] = [];
    for await (const l of platform.resolve(UserExporter).exportUser(seeded.userId)) raw.push(l);
    const lines = raw.slice(0, -1).map((l) => JSON.parse(l) as Line);
    const manifest = JSON.parse(raw.at(-1) ?? '{}') as ExportManifest;

    const of = (kind: string) => lines.filter((l) => l.kind === kind);
    expect(of('profile')).toEqual([expect.objectContaining({ store: 'postgres', data: expect.objectContaining({ id: seeded.userId, email: seeded.email }) })]);
    expect(of('membership').map((l) => l.data.organizationId)).toEqual([seeded.organizationId]);
    expect(of('identity').map((l) => l.data.providerUserId)).toEqual([seeded.ids.identityProviderUserId]);
    expect(of('session').map((l) => l.data.id)).toEqual(seeded.ids.sessions);
    expect(of('integration').map((l) => l.data.integration)).toEqual(['slack']);
    expect(of('api_key').map((l) => l.data.prefix)).toEqual([seeded.ids.apiKeyPrefix]);
    expect(of('mfa')).toHaveLength(1);
    expect(of('persona_preference').map((l) => l.data.personaId)).toEqual([seeded.ids.personaId]);
    expect(of('audit_event')).toHaveLength(seeded.ids.auditEvents);
    expect(of('conversation').map((l) => l.data.id)).toEqual(seeded.ids.conversations);
    expect(of('message').map((l) => l.data.id)).toEqual(seeded.ids.messages);
    expect(of('analytics_event').map((l) => l.data.id)).toEqual(seeded.ids.analytics);
    expect(of('redis_key').map((l) => l.data.type)).toEqual(expect.arrayContaining(['sess', 'rl']));
    expect(new Set(lines.map((l) => l.store))).toEqual(new Set(['postgres', 'mongo', 'redis']));

    expect(manifest.kind).toBe('manifest');
    expect(manifest.userId).toBe(seeded.userId);
    const counted = Object.fromEntries([...new Set(lines.map((l) => l.kind))].map((k) => [k, of(k).length]));
    expect(manifest.counts).toEqual(counted);

    const text = raw.join('\n');
    for (const secret of seeded.secrets) expect(text, 'a secret leaked into the export').not.toContain(secret);
    expect(text).not.toMatch(/password_hash|passwordHash|token_hash|secret_hash|_encrypted|totp/i);
    // Organization-owned knowledge is not the user's.
    expect(text).not.toContain(seeded.ids.documentId);
  });

  test('refuses an unknown user', async ({ privacy: { platform } }) => {
    const run = async () => {
      for await (const _ of platform.resolve(UserExporter).exportUser('00000000-0000-4000-8000-000000000001')) void _;
    };
    await expect(run()).rejects.toBeInstanceOf(NotFoundError);
  });
});
