import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../config.js';
import { PlatformError, RateLimitedError, TokenError, ValidationError } from '../../errors.js';
import { createLogger, type Logger } from '../../logger.js';
import { createPlatform, type Platform } from '../../platform.js';
import { bootstrapPlatform } from '../../flows/bootstrap-platform.js';
import { PasswordSignIn } from '../../flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../flows/auth/refresh-rotation.js';
import { SessionValidator } from '../../flows/auth/session-validator.js';
import { ApiKeyAuthenticator } from '../../flows/auth/api-key-authenticator.js';
import { SignUpService } from '../../flows/auth/sign-up-service.js';
import { ConversationRepository } from '../../mongo/repositories/conversation-repository.js';
import { MessageRepository } from '../../mongo/repositories/message-repository.js';
import { ApiKeyRepository } from '../../postgres/repositories/api-key-repository.js';
import { AuditRepository } from '../../postgres/repositories/audit-repository.js';
import { AuditWriter } from '../../postgres/repositories/audit-writer.js';
import { IntegrationTokenRepository } from '../../postgres/repositories/integration-token-repository.js';
import { MembershipRepository } from '../../postgres/repositories/membership-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { startLocalStack, type LocalStack } from '../../testing/start-local-stack.js';
import { formatHealth } from '../commands/health-command.js';
import { formatBootstrap } from '../commands/bootstrap-command.js';
import { runDemoKnowledge } from './run-demo-knowledge.js';
import { runDemoErasure } from './run-demo-erasure.js';
import { expectSignedIn } from '../../flows/auth/expect-signed-in.js';
import { MongoConnection } from '../../mongo/mongo-connection.js';
import { QdrantConnection } from '../../qdrant/qdrant-connection.js';
import { RedisConnection } from '../../redis/redis-connection.js';
import { scanKeys, unlinkKeys } from '../../redis/scan-keys.js';

export interface DemoOptions {
  /** Receives each line of the story (default: stdout). */
  readonly print?: (line: string) => void;
  /** Leave the stack running and return it (the caller stops it). */
  readonly keep?: boolean;
  /** Environment (default: process.env); URLs set here are used instead of the local stack's. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where stand-ins keep their data with `keep` (default: none). */
  readonly snapshotDir?: string;
}

/** Every plaintext secret the story used, so tests can prove none is stored or logged. */
export interface DemoSecrets {
  readonly passwords: string[];
  readonly refreshTokens: string[];
  readonly apiKeys: string[];
  readonly integrationTokens: string[];
  readonly invitationTokens: string[];
}

export interface DemoResult {
  readonly ok: boolean;
  readonly secrets: DemoSecrets;
  readonly stack: LocalStack | undefined;
  /** The environment the demo ran with (URLs, key ring): lets a test inspect the stores afterwards. */
  readonly env: Record<string, string>;
  readonly organizationId: string;
  readonly erasedUserId: string;
  readonly ms: number;
}

const DOCS_DIR = fileURLToPath(new URL('../../../docs/demo-knowledge/', import.meta.url));

/**
 * A database of this run's own on a local server (`platform_demo_<run>`), so the
 * demo never writes into `postgres` and never meets a database an earlier run
 * (or another version of the package) left behind. Dropped at the end unless `keep`.
 */
async function createDemoDatabase(adminUrl: string, run: string): Promise<string> {
  const name = `platform_demo_${run}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDemoDatabase(adminUrl: string, run: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS platform_demo_${run} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** Removes what the story wrote under this run's names in stores it did not create: Redis keys (BullMQ's too), the MongoDB database, Qdrant collections. */
async function removeDemoData(platform: Platform, env: Record<string, string>): Promise<void> {
  const redis = platform.resolve(RedisConnection).client;
  const qdrant = platform.resolve(QdrantConnection).client;
  const prefix = env.REDIS_KEY_PREFIX;
  const collectionPrefix = env.QDRANT_COLLECTION_PREFIX;
  await Promise.allSettled([
    (async () => {
      if (!prefix) return;
      for await (const keys of scanKeys(redis, `${prefix}*`)) await unlinkKeys(redis, keys);
    })(),
    platform.resolve(MongoConnection).connection.dropDatabase(),
    (async () => {
      if (!collectionPrefix) return;
      const { collections } = await qdrant.getCollections();
      for (const { name } of collections) if (name.startsWith(collectionPrefix)) await qdrant.deleteCollection(name);
    })(),
  ]);
}

/**
 * The whole story, on the local stack: organization and owner, a member, login,
 * refresh, a replayed refresh token, an encrypted integration token, an API key
 * and its rate limit, a conversation, knowledge ingestion and semantic search,
 * the audit trail, an erasure across all four stores, and the health table.
 *
 * @throws PlatformError when a step does not behave as the story expects
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const env = options.env ?? process.env;
  const step = (n: number, title: string) => print(`\n${n}. ${title}`);
  const say = (line: string) => print(`   ${line}`);
  const secrets: DemoSecrets = { passwords: [], refreshTokens: [], apiKeys: [], integrationTokens: [], invitationTokens: [] };
  const run = randomBytes(3).toString('hex');

  step(1, 'Local stack');
  const stack = await startLocalStack({ env, snapshotDir: options.snapshotDir, log: (l) => say(l.replace(/^\[stack\] /, '')) });
  let platform: Platform | undefined;
  let adminUrl: string | undefined;
  let demoEnv: Record<string, string> | undefined;
  try {
    const stackEnv = stack.env();
    if (!stackEnv.DATABASE_URL) throw new PlatformError('DEMO_FAILED', `no PostgreSQL: ${stack.stores.postgres.detail}`);
    if (stack.backends.postgres !== 'env' && stack.backends.postgres !== 'testcontainers') {
      adminUrl = stackEnv.DATABASE_URL;
      stackEnv.DATABASE_URL = await createDemoDatabase(adminUrl, run);
      say(`PostgreSQL database of this run: platform_demo_${run} (dropped at the end unless --keep)`);
    }
    const appUrl = new URL(stackEnv.DATABASE_URL);
    appUrl.username = 'platform_app';
    demoEnv = {
      ...Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string')),
      ...stackEnv,
      DATABASE_APP_URL: env.DATABASE_APP_URL ?? appUrl.toString(),
      PLATFORM_ENCRYPTION_KEYS: env.PLATFORM_ENCRYPTION_KEYS ?? `demo${run}:${randomBytes(32).toString('base64')}`,
      REDIS_KEY_PREFIX: `demo${run}:`,
      QDRANT_COLLECTION_PREFIX: `demo${run}_`,
      // A short grace window, so the replayed refresh token below is caught without waiting 10 s.
      REFRESH_REUSE_GRACE_SECONDS: '1',
      LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
    };
    const mongoUrl = new URL(demoEnv.MONGODB_URI ?? '');
    mongoUrl.pathname = `/platform_demo_${run}`;
    demoEnv.MONGODB_URI = mongoUrl.toString();
    const config = loadConfig(demoEnv);
    const logLines: string[] = [];
    const logger: Logger = createLogger(config.logLevel, (line) => {
      logLines.push(line);
      process.stderr.write(`${line}\n`);
    });
    platform = createPlatform(config, { logger });

    step(2, 'Bootstrap (idempotent: a second run changes nothing)');
    const results = await bootstrapPlatform(platform, { waitMs: 30_000 });
    for (const line of formatBootstrap(results).split('\n')) say(line);
    const failed = results.filter((r) => r.status === 'failed');
    if (failed.length > 0) throw new PlatformError('DEMO_FAILED', `bootstrap failed: ${failed.map((f) => `${f.store}: ${f.error}`).join('; ')}`);
    await platform.start();

    step(3, 'An organization and its owner (password policy, bcrypt)');
    const signUp = platform.resolve(SignUpService);
    const ownerEmail = `ada.${run}@acme.example`;
    const weak = 'password123';
    try {
      await signUp.createAccount({ email: ownerEmail, password: weak, organizationName: `Acme ${run}`, ageConfirmed: true, emailVerified: true });
      throw new PlatformError('DEMO_FAILED', 'a common password was accepted');
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      say(`"${weak}" refused: ${error.issues.map((i) => i.code ?? i.message).join(', ')}`);
    }
    const ownerPassword = `Lovelace-${randomBytes(6).toString('base64url')}!9`;
    secrets.passwords.push(ownerPassword);
    const { user: owner, organization } = await signUp.createAccount({
      email: ownerEmail,
      password: ownerPassword,
      displayName: 'Ada',
      organizationName: `Acme ${run}`,
      termsVersion: '2026-01',
      privacyVersion: '2026-01',
      ageConfirmed: true,
      emailVerified: true,
    });
    say(`organization ${organization.slug} (${organization.tier}, ${organization.credits} credits), owner ${owner.email}`);

    step(4, 'Invite a member');
    const rotation = platform.resolve(RefreshRotation);
    const signIn = platform.resolve(PasswordSignIn);
    const validator = platform.resolve(SessionValidator);
    const ownerLogin = expectSignedIn(await signIn.login(ownerEmail, ownerPassword, { ip: '203.0.113.7', userAgent: 'demo/1.0' }));
    secrets.refreshTokens.push(ownerLogin.refreshToken);
    const memberEmail = `grace.${run}@acme.example`;
    const memberPassword = `Hopper-${randomBytes(6).toString('base64url')}!7`;
    secrets.passwords.push(memberPassword);
    const member = await platform.resolve(UserRepository).create({
      email: memberEmail,
      displayName: 'Grace',
      passwordHash: await platform.resolve(PasswordHasher).hash(memberPassword),
      status: 'active',
      termsVersion: '2026-01',
      privacyVersion: '2026-01',
      ageConfirmed: true,
    });
    // Membership by consent: the organization invites, the user accepts with the token sent to them.
    const memberships = platform.resolve(MembershipRepository);
    const { token: invitationToken } = await memberships.add(ownerLogin.context, { userId: member.id, role: 'member' });
    secrets.invitationTokens.push(invitationToken);
    await memberships.acceptInvitation(invitationToken);
    say(`${member.email} was invited and accepted: member`);

    step(5, 'Log in: session row in PostgreSQL, cache entry in Redis');
    const login = expectSignedIn(await signIn.login(memberEmail, memberPassword, { ip: '198.51.100.4', userAgent: 'demo-browser/2.0', deviceId: 'laptop-1' }));
    secrets.refreshTokens.push(login.refreshToken);
    const validated = await validator.validate({ userId: member.id, sessionId: login.sessionId });
    say(`session ${login.sessionId.slice(0, 8)}… valid until ${login.expiresAt.toISOString()}; validate answered from ${validated.source}`);

    step(6, 'Refresh: the refresh token rotates');
    const refreshed = await rotation.refresh(login.refreshToken, { ip: '198.51.100.4', userAgent: 'demo-browser/2.0' });
    secrets.refreshTokens.push(refreshed.refreshToken);
    say('old token spent, a new one issued in the same family');

    step(7, 'Replay the old refresh token after the grace window');
    await new Promise((r) => setTimeout(r, 1_200));
    try {
      await rotation.refresh(login.refreshToken, { ip: '192.0.2.66', userAgent: 'curl/8' });
      throw new PlatformError('DEMO_FAILED', 'a replayed refresh token was accepted');
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      say(`refused (${error.reason}); the whole family is revoked`);
    }
    try {
      await validator.validate({ userId: member.id, sessionId: login.sessionId });
      throw new PlatformError('DEMO_FAILED', 'the session of a reused family is still valid');
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      say('the session is revoked in PostgreSQL and Redis');
    }

    step(8, 'An encrypted integration token');
    const githubToken = `ghp_${randomBytes(18).toString('hex')}`;
    secrets.integrationTokens.push(githubToken);
    const tokens = platform.resolve(IntegrationTokenRepository);
    await tokens.save(ownerLogin.context, { integration: 'github', accessToken: githubToken, scopes: ['repo:read'] });
    const back = await tokens.get(ownerLogin.context, 'github');
    say(`stored AES-256-GCM encrypted (key ${config.encryption.activeKeyId}); decrypts back: ${back.accessToken === githubToken}`);

    step(9, 'An API key and its rate limit');
    const { key, apiKey } = await platform.resolve(ApiKeyRepository).create(ownerLogin.context, {
      name: 'ci',
      scopes: ['knowledge:read'],
      rateLimitPerMinute: 5,
    });
    secrets.apiKeys.push(key);
    const authenticator = platform.resolve(ApiKeyAuthenticator);
    let allowed = 0;
    let limited: RateLimitedError | undefined;
    for (let i = 0; i < 8 && !limited; i++) {
      try {
        await authenticator.authenticate(key);
        allowed++;
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        limited = error;
      }
    }
    if (!limited) throw new PlatformError('DEMO_FAILED', 'the API key was never rate limited');
    say(
      `key ${apiKey.prefix}… (secret shown once, only its hash stored): ${allowed} calls allowed, then limited (retry in ${Math.ceil(limited.retryAfterMs / 1000)} s)`,
    );

    step(10, 'A conversation with messages (MongoDB)');
    const ownerContext = ownerLogin.context;
    const conversation = await platform.resolve(ConversationRepository).create(ownerContext, { title: 'Refund question' });
    const messages = platform.resolve(MessageRepository);
    await messages.append(ownerContext, conversation.id, { role: 'user', content: 'Can we get a refund for unused credits?' });
    await messages.append(ownerContext, conversation.id, { role: 'assistant', content: 'Yes: unused credits are refunded in full within thirty days.' });
    const afterMessages = await platform.resolve(ConversationRepository).get(ownerContext, conversation.id);
    say(`"${afterMessages.title}": ${afterMessages.messageCount} messages, counters updated atomically`);

    step(11, 'Knowledge: ingest documents, then semantic search (Qdrant + MongoDB)');
    const files = (await readdir(DOCS_DIR)).filter((f) => f.endsWith('.md')).sort();
    const documents = await Promise.all(
      files.map(async (f) => ({ source: `demo/${f}`, title: f.replace(/\.md$/, ''), content: await readFile(`${DOCS_DIR}${f}`, 'utf8') })),
    );
    await runDemoKnowledge(platform, ownerContext, documents, say);

    step(12, 'The audit trail');
    await platform.resolve(AuditWriter).flush();
    const audit = await platform.resolve(AuditRepository).query(ownerContext, {}, { limit: 12 });
    for (const event of audit.items) say(`${event.createdAt.toISOString().slice(11, 19)}  risk ${String(event.riskScore).padStart(3)}  ${event.eventType}`);

    step(13, 'Erase the member across all four stores');
    await runDemoErasure(platform, { userId: member.id, organizationId: organization.id, ownerContext }, say);

    step(14, 'Health');
    for (const line of formatHealth(await platform.health()).split('\n')) say(line);
    const leaked = logLines.filter((line) =>
      [...secrets.passwords, ...secrets.refreshTokens, ...secrets.apiKeys, ...secrets.integrationTokens, ...secrets.invitationTokens].some((s) =>
        line.includes(s),
      ),
    );
    if (leaked.length > 0) throw new PlatformError('DEMO_FAILED', 'a secret appeared in the logs');
    const ms = performance.now() - started;
    print(`\nDone in ${(ms / 1000).toFixed(1)} s.`);
    return { ok: true, secrets, stack: options.keep ? stack : undefined, env: demoEnv, organizationId: organization.id, erasedUserId: member.id, ms };
  } finally {
    if (!options.keep && platform && demoEnv) await removeDemoData(platform, demoEnv);
    await platform?.stop();
    if (!options.keep && adminUrl) await dropDemoDatabase(adminUrl, run).catch(() => undefined);
    if (!options.keep) await stack.stop();
  }
}
