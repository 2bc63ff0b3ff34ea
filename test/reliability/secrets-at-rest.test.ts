import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { EJSON } from 'bson';
import pg from 'pg';
import { describe, expect } from 'vitest';
import { runDemo, type DemoResult } from '../../src/cli/demo/run-demo.js';
import { loadConfig } from '../../src/config.js';
import { ApiKeyAuthenticator } from '../../src/flows/auth/api-key-authenticator.js';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../src/flows/auth/refresh-rotation.js';
import { bootstrapPlatform } from '../../src/flows/bootstrap-platform.js';
import { KnowledgeIngestion } from '../../src/flows/knowledge/knowledge-ingestion.js';
import { OAuthSignIn } from '../../src/flows/auth/oauth-sign-in.js';
import { SignUpService } from '../../src/flows/auth/sign-up-service.js';
import { PasswordResetRequest } from '../../src/flows/auth/password-reset-request.js';
import { PasswordReset } from '../../src/flows/auth/password-reset.js';
import { EmailVerification } from '../../src/flows/auth/email-verification.js';
import { createLogger } from '../../src/logger.js';
import { ConversationRepository } from '../../src/mongo/repositories/conversation-repository.js';
import { MessageRepository } from '../../src/mongo/repositories/message-repository.js';
import { MongoConnection } from '../../src/mongo/mongo-connection.js';
import { createPlatform, type Platform } from '../../src/platform.js';
import { ApiKeyRepository } from '../../src/postgres/repositories/api-key-repository.js';
import { IntegrationTokenRepository } from '../../src/postgres/repositories/integration-token-repository.js';
import { MfaRepository } from '../../src/postgres/repositories/mfa-repository.js';
import { PersonaRepository } from '../../src/postgres/repositories/persona-repository.js';
import { QdrantConnection } from '../../src/qdrant/qdrant-connection.js';
import { JobQueues } from '../../src/redis/job-queues.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { scanKeys, unlinkKeys } from '../../src/redis/scan-keys.js';
import { generateRecoveryCodes } from '../../src/security/recovery-codes.js';
import { Totp } from '../../src/security/totp.js';
import { createTenantContext } from '../../src/tenancy/tenant-context.js';
import { type TestEnv } from '../support/test-env.js';
import { Figures } from './reliability-support.js';
import { CapturingNotifier } from '../support/auth-fixtures.js';
import { expectSignedIn } from '../../src/flows/auth/expect-signed-in.js';
import { requireStores } from '../support/require-stores.js';
import { AUTH_NOTIFIER } from '../../src/tokens.js';
import { test } from '../support/fixtures.js';

const figures = new Figures('secrets-at-rest');

/** Every way a secret could sit in a store: itself, its UTF-8 bytes as hex/base64, and — for encoded tokens — the decoded bytes. */
function encodings(secret: string): string[] {
  const out = new Set<string>([secret]);
  const utf8 = Buffer.from(secret, 'utf8');
  out.add(utf8.toString('hex')).add(utf8.toString('base64').replace(/=+$/, '')).add(utf8.toString('base64url'));
  if (/^[A-Za-z0-9_-]{16,}$/.test(secret)) {
    const raw = Buffer.from(secret, 'base64url');
    if (raw.length >= 12) out.add(raw.toString('hex')).add(raw.toString('base64').replace(/=+$/, ''));
  }
  if (/^[A-Z2-7]{16,}=*$/.test(secret)) {
    const raw = base32Decode(secret);
    out.add(raw.toString('hex')).add(raw.toString('base64').replace(/=+$/, ''));
  }
  return [...out].filter((e) => e.length >= 8);
}

function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const c of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

interface Finding {
  readonly where: string;
  readonly secret: string;
}

describe.skipIf(!requireStores('postgres', 'redis', 'mongo', 'qdrant'))('secrets at rest: none in any store or log', () => {
  let platform: Platform;
  let demo: DemoResult | undefined;
  const logs: string[] = [];
  /** kind → plaintext secrets the story used. */
  const secrets = new Map<string, string[]>();
  const add = (kind: string, ...values: string[]) => secrets.set(kind, [...(secrets.get(kind) ?? []), ...values]);
  const CANARY = `canary-${randomBytes(12).toString('hex')}`;

  test.beforeAll(async ({ testEnv: t }) => {
    // 1. The lead's demo story, on this file's stores (all four from the environment, so it creates nothing of its own).
    const captured: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stderr.write;
    try {
      // keep: the scan below reads what the story stored (without it, the demo removes its own data at the end).
      demo = await runDemo({ env: { ...t.env, LOG_LEVEL: 'debug' }, keep: true, print: (line) => captured.push(line) });
    } finally {
      process.stderr.write = write;
    }
    logs.push(...captured);
    add('demo password', ...demo.secrets.passwords);
    add('demo refresh token', ...demo.secrets.refreshTokens);
    add('demo API key', ...demo.secrets.apiKeys);
    add('demo integration token', ...demo.secrets.integrationTokens);
    add('demo invitation token', ...demo.secrets.invitationTokens);

    // 2. What the demo does not cover: verification and reset tokens, a wrong password, TOTP, recovery codes, OAuth tokens.
    platform = createPlatform(loadConfig({ ...t.env, LOG_LEVEL: 'debug' }), { logger: createLogger('debug', (line) => logs.push(line)) });
    const notifier = new CapturingNotifier();
    platform.container.registerInstance(AUTH_NOTIFIER, notifier);
    const boot = await bootstrapPlatform(platform, { waitMs: 10_000 });
    if (boot.some((b) => b.status !== 'provisioned')) throw new Error(`bootstrap: ${JSON.stringify(boot.map((b) => [b.store, b.status, b.error]))}`);
    await platform.start();
    const rotation = platform.resolve(RefreshRotation);
    const signIn = platform.resolve(PasswordSignIn);
    const resetRequest = platform.resolve(PasswordResetRequest);
    const reset = platform.resolve(PasswordReset);
    const emailVerification = platform.resolve(EmailVerification);
    const password = `Pw-${randomBytes(9).toString('base64url')}-x9`;
    const email = `secret-${randomUUID().slice(0, 8)}@example.test`;
    add('password', password);
    const { user, organization } = await platform.resolve(SignUpService).createAccount({ email, password, organizationName: 'Secrets', ageConfirmed: true });
    await emailVerification.requestEmailVerification(user.id);
    const verifyToken = notifier.sent.at(-1)!.token;
    add('email verification token', verifyToken);
    await emailVerification.verifyEmail(verifyToken);
    const wrong = `Wrong-${randomBytes(9).toString('base64url')}`;
    add('wrong password attempt', wrong);
    await signIn.login(email, wrong, { ip: '198.51.100.20' }).catch(() => undefined);
    const login = expectSignedIn(await signIn.login(email, password, { ip: '198.51.100.20' }));
    add('refresh token', login.refreshToken);
    add('refresh token', (await rotation.refresh(login.refreshToken, {})).refreshToken);
    await resetRequest.requestPasswordReset(email, {});
    await resetRequest.settled();
    const resetToken = notifier.sent.at(-1)!.token;
    add('password reset token', resetToken);
    const newPassword = `New-${randomBytes(9).toString('base64url')}-y7`;
    add('password', newPassword);
    await reset.resetPassword(resetToken, newPassword);
    add('refresh token', expectSignedIn(await signIn.login(email, newPassword, {})).refreshToken);

    const ctx = createTenantContext({ organizationId: organization.id, userId: user.id, role: 'owner', scopes: [] });
    const totp = platform.resolve(Totp);
    const mfa = platform.resolve(MfaRepository);
    const totpSecret = totp.generateSecret();
    add('TOTP secret', totpSecret);
    await mfa.enroll(user.id, totpSecret);
    const check = await totp.verify(totpSecret, await totp.generate(totpSecret));
    if (!check.valid) throw new Error('TOTP code did not verify');
    await mfa.enable(user.id, check.timeStep);
    const recovery = generateRecoveryCodes(4);
    add('recovery code', ...recovery.codes);
    await mfa.replaceRecoveryCodes(user.id, recovery.hashes);

    const { key } = await platform.resolve(ApiKeyRepository).create(ctx, { name: 'ci', scopes: ['knowledge:read'] });
    add('API key', key);
    await platform.resolve(ApiKeyAuthenticator).authenticate(key);
    const integration = { access: `xoxb-${randomBytes(18).toString('hex')}`, refresh: `xoxe-${randomBytes(18).toString('hex')}` };
    add('integration token', integration.access, integration.refresh);
    await platform
      .resolve(IntegrationTokenRepository)
      .save(ctx, { integration: 'slack', accessToken: integration.access, refreshToken: integration.refresh, scopes: ['chat:write'] });
    const oauth = { access: `ya29.${randomBytes(24).toString('base64url')}`, refresh: `1//${randomBytes(24).toString('base64url')}` };
    add('OAuth token', oauth.access, oauth.refresh);
    const signedIn = expectSignedIn(
      await platform.resolve(OAuthSignIn).signIn({
        provider: 'google',
        providerUserId: `g-${randomUUID()}`,
        email: `oauth-${randomUUID().slice(0, 8)}@example.test`,
        emailVerified: true,
        accessToken: oauth.access,
        refreshToken: oauth.refresh,
      }),
    );
    add('refresh token', signedIn.refreshToken);

    // Ordinary data beside the secrets, so every store has content to scan.
    const conversation = await platform.resolve(ConversationRepository).create(ctx, { title: 'notes' });
    await platform.resolve(MessageRepository).append(ctx, conversation.id, { role: 'user', content: 'how do refunds work?' });
    const ingestion = platform.resolve(KnowledgeIngestion);
    const doc = await ingestion.ingestDocument(ctx, {
      source: 'secrets/faq.md',
      title: 'faq',
      content: 'Refunds take five to ten business days. Contact support for help.',
    });
    const worker = await ingestion.startIngestionWorker({ concurrency: 1 });
    try {
      const waited = await ingestion.waitForIndexing(ctx, [{ id: doc.document.id, version: doc.document.version }], { timeoutMs: 20_000 });
      if (waited.unsettled.length > 0 || waited.failed.length > 0) throw new Error('the knowledge document was not indexed');
    } finally {
      await worker.close();
    }

    // Canaries: one plaintext value planted in each store and log, to prove the scanner finds what is there.
    await platform.resolve(PersonaRepository).create(ctx, { name: 'Canary', description: CANARY });
    await platform.resolve(MessageRepository).append(ctx, conversation.id, { role: 'user', content: CANARY });
    await platform.resolve(RedisConnection).client.set(`${t.config.redis.keyPrefix}canary`, CANARY, 'EX', 600);
    const qdrant = platform.resolve(QdrantConnection).client;
    const collections = (await qdrant.getCollections()).collections.map((c) => c.name).filter((n) => n.startsWith(t.config.qdrant.collectionPrefix));
    const firstPoint = (await qdrant.scroll(collections[0]!, { limit: 1 })).points[0]!;
    await qdrant.setPayload(collections[0]!, { points: [firstPoint.id], payload: { canary: CANARY } });
    logs.push(JSON.stringify({ msg: CANARY }));
  }, 120_000);

  test.afterAll(async () => {
    await demo?.stack?.stop();
    // The demo ran with keep (so the scan could read its data): remove its Redis keys here.
    const prefix = demo?.env.REDIS_KEY_PREFIX;
    if (platform && prefix) {
      const redis = platform.resolve(RedisConnection).client;
      for await (const keys of scanKeys(redis, `${prefix}*`)) await unlinkKeys(redis, keys);
    }
    await platform
      ?.resolve(JobQueues)
      .close()
      .catch(() => undefined);
    await platform?.stop();
    await figures.flush();
  });

  async function scanAll(
    t: TestEnv,
    needles: ReadonlyArray<{ secret: string; variants: readonly string[] }>,
  ): Promise<{ findings: Finding[]; scanned: Record<string, number> }> {
    const findings: Finding[] = [];
    const scanned: Record<string, number> = { tables: 0, rows: 0, collections: 0, documents: 0, points: 0, redisKeys: 0, logLines: logs.length };
    const look = (where: string, text: string) => {
      for (const n of needles) if (n.variants.some((v) => text.includes(v))) findings.push({ where, secret: n.secret });
    };

    // PostgreSQL, as the owner: every table of the schema, every column (a row's text form includes bytea as hex and jsonb).
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      const tables = await client.query<{ name: string }>(
        `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
      );
      for (const { name } of tables.rows) {
        scanned.tables!++;
        const rows = await client.query<{ r: string }>(`SELECT t::text AS r FROM ${name} t`);
        for (const { r } of rows.rows) {
          scanned.rows!++;
          look(`postgres ${name}`, r);
        }
      }
    } finally {
      await client.end();
    }

    // MongoDB: this file's database and the demo's.
    const mongoClient = platform.resolve(MongoConnection).connection.getClient();
    const databases = new Set([new URL(t.env.MONGODB_URI!).pathname.slice(1), ...(demo ? [new URL(demo.env.MONGODB_URI!).pathname.slice(1)] : [])]);
    for (const dbName of databases) {
      const db = mongoClient.db(dbName);
      for (const c of await db.listCollections().toArray()) {
        scanned.collections!++;
        for (const d of await db.collection(c.name).find({}).toArray()) {
          scanned.documents!++;
          look(`mongo ${dbName}.${c.name}`, EJSON.stringify(d, { relaxed: false }));
        }
      }
    }

    // Qdrant: every collection under this file's and the demo's prefix, payloads included.
    const qdrant = platform.resolve(QdrantConnection).client;
    const prefixes = [t.config.qdrant.collectionPrefix, ...(demo ? [demo.env.QDRANT_COLLECTION_PREFIX!] : [])];
    for (const { name } of (await qdrant.getCollections()).collections) {
      if (!prefixes.some((p) => name.startsWith(p))) continue;
      let offset: string | number | undefined | null;
      for (let page = 0; page < 100; page++) {
        const result = await qdrant.scroll(name, {
          limit: 256,
          with_payload: true,
          with_vector: false,
          ...(offset === undefined || offset === null ? {} : { offset }),
        });
        for (const p of result.points) {
          scanned.points!++;
          look(`qdrant ${name}`, JSON.stringify(p));
        }
        offset = result.next_page_offset as string | number | null | undefined;
        if (offset === null || offset === undefined) break;
      }
    }

    // Redis: every key under this file's and the demo's prefix, names and values.
    const redis = platform.resolve(RedisConnection).client;
    for (const prefix of [t.config.redis.keyPrefix, ...(demo ? [demo.env.REDIS_KEY_PREFIX!] : [])]) {
      let cursor = '0';
      for (let round = 0; round < 10_000; round++) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        for (const key of keys) {
          scanned.redisKeys!++;
          const type = await redis.type(key);
          const values: string[] = [key];
          if (type === 'string') {
            const raw = await redis.getBuffer(key);
            if (raw) values.push(raw.toString('utf8'), raw.toString('latin1'), raw.toString('hex'));
          } else if (type === 'hash') values.push(JSON.stringify(await redis.hgetall(key)));
          else if (type === 'set') values.push(...(await redis.smembers(key)));
          else if (type === 'zset') values.push(...(await redis.zrange(key, '0', '-1')));
          else if (type === 'list') values.push(...(await redis.lrange(key, 0, -1)));
          else if (type === 'stream') values.push(JSON.stringify(await redis.xrange(key, '-', '+')));
          look(`redis ${type} ${key.slice(0, 60)}`, values.join('\n'));
        }
        cursor = next;
        if (cursor === '0') break;
      }
    }

    for (const line of logs) look('logs', line);
    return { findings, scanned };
  }

  test('the scanner finds a planted plaintext canary in every store and in the logs (so a zero below means something)', async ({ testEnv: t }) => {
    const { findings } = await scanAll(t, [{ secret: CANARY, variants: [CANARY] }]);
    const stores = new Set(findings.map((f) => f.where.split(' ')[0]));
    expect([...stores].sort()).toEqual(['logs', 'mongo', 'postgres', 'qdrant', 'redis']);
  });

  test('no password, refresh token, API key, verification/reset token, TOTP secret, recovery code, OAuth or integration token is stored or logged, in any encoding', async ({
    testEnv: t,
  }) => {
    const all = [...secrets.entries()].flatMap(([kind, values]) => values.map((secret) => ({ kind, secret, variants: encodings(secret) })));
    expect(demo?.ok).toBe(true);
    for (const kind of [
      'demo password',
      'demo refresh token',
      'demo API key',
      'demo integration token',
      'TOTP secret',
      'OAuth token',
      'integration token',
      'password reset token',
      'email verification token',
      'recovery code',
    ]) {
      expect(secrets.get(kind)?.length ?? 0, kind).toBeGreaterThan(0);
    }
    const { findings, scanned } = await scanAll(t, all);
    const kinds = [...secrets.keys()].sort();
    figures.set('a-scan', {
      check: `${all.length} plaintext secrets of ${kinds.length} kinds (${kinds.join(', ')}) from the demo story plus the flows it does not cover; each searched as itself, hex, base64 and (for encoded tokens) its decoded bytes`,
      measured: `${findings.length} found in ${scanned.tables} Postgres tables, ${scanned.collections} Mongo collections, every Qdrant payload, every Redis key and value under the test prefixes, and the captured logs`,
    });
    figures.set('b-canary', { check: 'a plaintext canary planted in each store and the log', measured: 'found in all five (the scan works)' });
    expect(findings.map((f) => `${f.where}: ${all.find((a) => a.secret === f.secret)?.kind}`)).toEqual([]);
    expect(scanned.rows).toBeGreaterThan(20);
    expect(scanned.documents).toBeGreaterThan(3);
    expect(scanned.points).toBeGreaterThan(0);
    expect(scanned.redisKeys).toBeGreaterThan(3);
    expect(scanned.logLines).toBeGreaterThan(10);
  });
});
