import { randomBytes } from 'node:crypto';
import { appLedgerName, Migrator } from 'platform-data/migrator';
import { createTestEnvironment, type TestEnvironment } from 'platform-data/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApp, type App } from '../src/app.ts';

let t: TestEnvironment;
let app: App;

beforeAll(async () => {
  // This file's own database (cloned from the migrated template) and Redis key prefix.
  t = await createTestEnvironment(inject('platformStack'));
  app = await startApp(t.config, { tokenSecret: randomBytes(32).toString('base64') });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
});

async function call(method: string, path: string, options: { json?: unknown; token?: string } = {}): Promise<{ status: number; body: Record<string, string> }> {
  const response = await fetch(`${app.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, string>) : {} };
}

describe('sign-up → verify email → login → validate → logout', () => {
  const email = `ada-${randomBytes(3).toString('hex')}@example.test`;
  const password = 'Quartz-Lantern-47-river';

  it('signs up, refuses login until the emailed link is followed, then signs in and validates the session', async () => {
    expect((await call('POST', '/sign-up', { json: { email, password, organizationName: 'Analytical Engines' } })).status).toBe(202);

    const early = await call('POST', '/login', { json: { email, password } });
    expect(early).toMatchObject({ status: 403, body: { error: 'ACCOUNT_STATE' } });

    const token = app.notifier.latestToken(email, 'email_verification');
    expect(token).toBeDefined();
    expect(await call('POST', '/verify-email', { json: { token } })).toMatchObject({ status: 200, body: { status: 'active' } });
    // A verification link works once.
    expect((await call('POST', '/verify-email', { json: { token } })).status).toBe(401);

    const login = await call('POST', '/login', { json: { email, password } });
    expect(login.status).toBe(200);
    const me = await call('GET', '/me', { token: login.body.accessToken });
    expect(me).toMatchObject({ status: 200, body: { sessionId: login.body.sessionId } });

    expect((await call('POST', '/logout', { json: { sessionId: login.body.sessionId } })).status).toBe(204);
    expect((await call('GET', '/me', { token: login.body.accessToken })).status).toBe(401);
  });

  it('answers a wrong password with 401 and a forged token with 401', async () => {
    expect((await call('POST', '/login', { json: { email, password: 'not-the-password-1' } })).status).toBe(401);
    expect((await call('GET', '/me', { token: 'eyJ1c2VySWQiOiJ4In0.forged' })).status).toBe(401);
  });

  it("has this app's own migrations applied after the package's, in their own ledger", async () => {
    await using migrator = new Migrator({ url: t.databaseUrl as string, directory: 'migrations', ledger: appLedgerName('migrations') });
    expect((await migrator.status()).map((m) => `${m.version} ${m.name} ${m.state}`)).toEqual(['1 profiles applied']);
  });
});
