import 'reflect-metadata';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { ErasureFlow } from '../../../src/flows/privacy/erasure-flow.js';
import { runCli } from '../../support/run-cli.js';
import { createOrganization, seedUserEverywhere } from '../../support/privacy-fixture.js';
import { test } from '../../support/fixtures.js';

describe('platform-data user / org commands', () => {
  test('user export --out writes a 0600 JSON-lines file ending in a manifest; user erase --wait erases and verifies', async ({ privacy: { platform, t } }) => {
    const seeded = await seedUserEverywhere(platform);
    const file = join(mkdtempSync(join(tmpdir(), 'pd-export-')), 'user.jsonl');
    const exported = await runCli(['user', 'export', seeded.userId, '--out', file], { env: t.env });
    expect(exported.stderr, exported.stderr).toContain('exported');
    expect(exported.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(lines.at(-1) ?? '{}')).toMatchObject({ kind: 'manifest', userId: seeded.userId });

    const erased = await runCli(['user', 'erase', seeded.userId, '--wait', '--timeout', '50', '--reason', 'cli test'], { env: t.env });
    expect(erased.stdout, erased.stderr).toContain('verified: nothing remains in any store');
    expect(erased.code).toBe(0);
    expect(await platform.resolve(ErasureFlow).verifyErased(seeded.userId)).toEqual([]);
  });

  test('org delete refuses a --confirm that is not the slug, and deletes with the right one', async ({ privacy: { platform, t } }) => {
    const org = await createOrganization(platform);
    await seedUserEverywhere(platform, org);
    const refused = await runCli(['org', 'delete', org.id, '--confirm', 'not-the-slug', '--wait'], { env: t.env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/confirm/);
    expect(await platform.resolve(ErasureFlow).verifyOrganizationDeleted(org.id)).not.toEqual([]);

    const deleted = await runCli(['org', 'delete', org.id, '--confirm', org.slug, '--wait', '--timeout', '50'], { env: t.env });
    expect(deleted.stdout, deleted.stderr).toContain('verified: nothing remains in any store');
    expect(deleted.code).toBe(0);
  });
});
