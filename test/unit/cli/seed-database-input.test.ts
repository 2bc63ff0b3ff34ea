import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { seedDatabase } from '../../../src/cli/commands/seed-database.js';
import type { Config } from '../../../src/config.js';

// Refused before any connection is made: the config is never read (an empty one would fail to connect).
const noConfig = {} as Config;

describe('db seed input', () => {
  it('refuses a malformed admin or member email, naming the variable', async () => {
    await expect(seedDatabase(noConfig, { PLATFORM_MEMBER_EMAIL: 'not-an-email' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: ['PLATFORM_MEMBER_EMAIL'],
    });
    await expect(seedDatabase(noConfig, { PLATFORM_ADMIN_EMAIL: 'admin@' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: ['PLATFORM_ADMIN_EMAIL'],
    });
  });

  it('refuses one address for both accounts', async () => {
    await expect(seedDatabase(noConfig, { PLATFORM_ADMIN_EMAIL: 'a@example.com', PLATFORM_MEMBER_EMAIL: 'A@example.com' })).rejects.toMatchObject({
      fields: ['PLATFORM_MEMBER_EMAIL'],
    });
  });

  it('refuses a short admin password', async () => {
    await expect(seedDatabase(noConfig, { PLATFORM_ADMIN_PASSWORD: 'short' })).rejects.toMatchObject({ fields: ['PLATFORM_ADMIN_PASSWORD'] });
  });
});
