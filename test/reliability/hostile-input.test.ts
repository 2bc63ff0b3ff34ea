import 'reflect-metadata';
import fc from 'fast-check';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { PlatformError, ValidationError } from '../../src/errors.js';
import { ApiKeyAuthenticator } from '../../src/flows/auth/api-key-authenticator.js';
import { PasswordSignIn } from '../../src/flows/auth/password-sign-in.js';
import { RefreshRotation } from '../../src/flows/auth/refresh-rotation.js';
import { SessionRevoker } from '../../src/flows/auth/session-revoker.js';
import { SessionValidator } from '../../src/flows/auth/session-validator.js';
import { KnowledgeSearch } from '../../src/flows/knowledge/knowledge-search.js';
import { SignUpService } from '../../src/flows/auth/sign-up-service.js';
import { AnalyticsRepository } from '../../src/mongo/repositories/analytics-repository.js';
import { ConversationRepository } from '../../src/mongo/repositories/conversation-repository.js';
import { KnowledgeDocumentRepository } from '../../src/mongo/repositories/knowledge-document-repository.js';
import { MessageRepository } from '../../src/mongo/repositories/message-repository.js';
import { MongoConnection } from '../../src/mongo/mongo-connection.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { ApiKeyRepository } from '../../src/postgres/repositories/api-key-repository.js';
import { AuditRepository } from '../../src/postgres/repositories/audit-repository.js';
import { OrganizationRepository } from '../../src/postgres/repositories/organization-repository.js';
import { PersonaRepository } from '../../src/postgres/repositories/persona-repository.js';
import { SessionRepository } from '../../src/postgres/repositories/session-repository.js';
import { UserRepository } from '../../src/postgres/repositories/user-repository.js';
import { createTenantContext, type TenantContext } from '../../src/tenancy/tenant-context.js';
import { Figures } from './reliability-support.js';
import { PASSWORD } from '../support/auth-fixtures.js';
import { requireStores } from '../support/require-stores.js';
import { test } from '../support/fixtures.js';
import type { FlowHarness } from '../support/flow-harness.js';

const figures = new Figures('hostile-input');
const RUNS = 60;

// ---------------------------------------------------------------------------
// Arbitraries

/** Any UTF-16 code unit, so NUL, control characters and lone surrogates appear. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
const NASTY = [
  '\u0000',
  'a\u0000b',
  '\uD800',
  'x\uDFFFy',
  '\u202Eevil\u202C',
  'مرحبا بالعالم',
  '👩‍👩‍👧‍👦🏳️‍🌈',
  'e\u0301',
  '\uFEFF',
  "'; DROP TABLE users; --",
  "' OR '1'='1",
  'Robert"); DELETE FROM sessions; --',
  '$where',
  '{"$gt":""}',
  '%00',
  '\\',
  '',
  ' ',
];
/** Strings a hostile client sends: edge-case unicode, SQL metacharacters, oversized. */
const hostileString = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: codeUnit, maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(...NASTY).map((s) => `${s}@example.test`),
  fc.integer({ min: 10_000, max: 2_000_000 }).map((n) => 'A'.repeat(n)),
);
/** Non-strings where a string is expected: NoSQL operators, prototypes, numbers. */
const operatorValue = fc.constantFrom<unknown>(
  { $gt: '' },
  { $ne: null },
  { $where: 'sleep(1000)' },
  { $regex: '.*' },
  ['a'],
  null,
  undefined,
  42,
  Number.NaN,
  true,
  { toString: () => 'x' },
  Object.create(null) as unknown,
);
const hostile = fc.oneof(hostileString, operatorValue);
const badUuid = fc.oneof(
  hostileString.filter((s) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(s)),
  operatorValue,
  fc.constantFrom('00000000-0000-0000-0000-00000000000g', '123e4567-e89b-12d3-a456-42661417400', "123e4567-e89b-12d3-a456-426614174000'--"),
);
/** Page sizes no repository may accept. */
const badLimit = fc.oneof(
  fc.integer({ min: -2_147_483_648, max: 0 }),
  fc.integer({ min: 1_001, max: 2_147_483_647 }),
  fc.constantFrom<unknown>(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, -0.5, '10', null, { $gt: 0 }, 2 ** 53 + 1),
);

const as = <T>(v: unknown): T => v as T;
/** What the shared text policy refuses in every store (src/input-policy.ts). */
const breaksTextPolicy = (text: string): boolean => text.includes('\u0000') || !text.isWellFormed();

// Hostile input reaches every store: the platform runs all four.
test.override('flowStores', ['postgres', 'redis', 'mongo', 'qdrant']);

describe.skipIf(!requireStores('postgres', 'redis', 'mongo', 'qdrant'))('hostile input: typed errors only, nothing written', () => {
  let ctx: TenantContext;
  let conversationId: string;
  const errorClasses = new Map<string, number>();
  let properties = 0;
  let runs = 0;

  test.beforeAll(async ({ flow: h }) => {
    const u = await h.user();
    ctx = createTenantContext({ organizationId: u.organizationId, userId: u.userId, role: 'owner', scopes: [] });
    conversationId = (await h.platform.resolve(ConversationRepository).create(ctx, { title: 'target' })).id;
    await h.platform.resolve(MessageRepository).append(ctx, conversationId, { role: 'user', content: 'hello' });
  });
  test.afterAll(async () => {
    figures.set('z-summary', {
      check: `${properties} properties × ${RUNS} runs (fast-check), plus fixed hostile cases`,
      measured: `errors seen: ${[...errorClasses.keys()].sort().join(', ') || 'none'}; untyped errors: 0 (a test fails otherwise)`,
    });
    await figures.flush();
  });

  /** Row and document counts of everything a rejected input could have written. */
  async function snapshot(h: FlowHarness): Promise<Record<string, number>> {
    const pgc = h.platform.resolve(PostgresConnection);
    const rows = await pgc.ownerPool.one(sql.type(z.record(z.string(), z.number()))`
      SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM organizations)::int AS organizations,
             (SELECT count(*) FROM memberships)::int AS memberships, (SELECT count(*) FROM sessions)::int AS sessions,
             (SELECT count(*) FROM refresh_tokens)::int AS refresh_tokens, (SELECT count(*) FROM api_keys)::int AS api_keys,
             (SELECT count(*) FROM personas)::int AS personas, (SELECT to_regclass('public.users') IS NOT NULL)::int AS users_table`);
    const db = h.platform.resolve(MongoConnection).connection.db!;
    const mongo: Record<string, number> = {};
    for (const name of ['conversations', 'messages', 'knowledge_documents', 'analytics_events'])
      mongo[`mongo.${name}`] = await db.collection(name).countDocuments({});
    return { ...rows, ...mongo };
  }

  /** Asserts `work` rejects with one of `allowed` (PlatformError subclasses) — never an untyped error, never success. */
  async function rejectsTyped(work: () => Promise<unknown>, allowed: ReadonlyArray<abstract new (...args: never[]) => PlatformError>): Promise<void> {
    let error: unknown;
    try {
      await work();
    } catch (e) {
      error = e;
    }
    if (!(error instanceof PlatformError)) throw new Error(`expected a typed error, got ${error === undefined ? 'success' : String(error)}`, { cause: error });
    if (!allowed.some((cls) => error instanceof cls))
      throw new Error(`unexpected ${error.name} (${error.code}): ${error.message.slice(0, 200)}`, { cause: error });
    errorClasses.set(error.name, (errorClasses.get(error.name) ?? 0) + 1);
  }

  /** Runs a property and checks nothing was written by it. */
  async function property<T>(
    h: FlowHarness,
    name: string,
    arb: fc.Arbitrary<T>,
    check: (value: T) => Promise<void>,
    options: { writes?: boolean } = {},
  ): Promise<void> {
    properties++;
    const before = await snapshot(h);
    await fc.assert(
      fc.asyncProperty(arb, async (value) => {
        runs++;
        await check(value);
      }),
      { numRuns: RUNS, seed: 20_240_611, endOnFailure: true },
    );
    if (!options.writes) expect(await snapshot(h), `${name} wrote something`).toEqual(before);
  }

  test('login: hostile emails and passwords (incl. NoSQL operators) → ValidationError / InvalidCredentialsError / RateLimitedError', async ({ flow: h }) => {
    const { InvalidCredentialsError, RateLimitedError } = await import('../../src/errors.js');
    const revoker = h.platform.resolve(SessionRevoker);
    const rotation = h.platform.resolve(RefreshRotation);
    const signIn = h.platform.resolve(PasswordSignIn);
    const validator = h.platform.resolve(SessionValidator);
    await property(h, 'login', fc.tuple(hostile, hostile), ([email, password]) =>
      rejectsTyped(() => signIn.login(as<string>(email), as<string>(password), {}), [ValidationError, InvalidCredentialsError, RateLimitedError]),
    );
  });

  test('refresh, validate, logout, API-key authentication: hostile tokens and ids → typed errors', async ({ flow: h }) => {
    const { TokenError, RateLimitedError } = await import('../../src/errors.js');
    const revoker = h.platform.resolve(SessionRevoker);
    const rotation = h.platform.resolve(RefreshRotation);
    const signIn = h.platform.resolve(PasswordSignIn);
    const validator = h.platform.resolve(SessionValidator);
    const apiKeys = h.platform.resolve(ApiKeyAuthenticator);
    await property(h, 'tokens', fc.tuple(hostile, badUuid, hostile), async ([token, id, jti]) => {
      await rejectsTyped(() => rotation.refresh(as<string>(token), {}), [ValidationError, TokenError]);
      await rejectsTyped(() => validator.validate(as<{ userId: string; sessionId: string }>({ userId: id, sessionId: id })), [ValidationError]);
      await rejectsTyped(() => validator.validate(as<{ userId: string; jti: string }>({ userId: ctx.userId, jti })), [ValidationError, TokenError]);
      await rejectsTyped(() => revoker.logout(as<string>(id)), [ValidationError]);
      await rejectsTyped(() => apiKeys.authenticate(as<string>(token)), [ValidationError, TokenError, RateLimitedError]);
    });
  });

  test('sign-up: hostile fields are refused before anything is written', async ({ flow: h }) => {
    const signUp = h.platform.resolve(SignUpService);
    const { ConflictError } = await import('../../src/errors.js');
    // Each case breaks at least one rule (email, or an oversized / non-string field), so nothing may be written.
    const invalid = fc.oneof(
      fc.record({
        email: hostile.filter((e) => typeof e !== 'string' || !z.email().safeParse(e).success),
        password: fc.constant(PASSWORD),
        organizationName: fc.constant('Org'),
      }),
      fc.record({
        email: fc.constant('ok-user@example.test'),
        password: fc.constant(PASSWORD),
        organizationName: fc.oneof(operatorValue, fc.constant('O'.repeat(10_000))),
      }),
      fc.record({
        email: fc.constant('ok-user@example.test'),
        password: fc.oneof(operatorValue, fc.constant('p'.repeat(5_000))),
        organizationName: fc.constant('Org'),
      }),
      fc.record({
        email: fc.constant('ok-user@example.test'),
        password: fc.constant(PASSWORD),
        organizationName: fc.constant('Org'),
        displayName: fc.oneof(
          operatorValue.filter((v) => v !== undefined),
          fc.constant('D'.repeat(1_000)),
        ),
      }),
    );
    await property(h, 'signUp', invalid, (input) =>
      rejectsTyped(() => signUp.signUp(as<Parameters<SignUpService['signUp']>[0]>({ ...input, ageConfirmed: true })), [ValidationError, ConflictError]),
    );
  });

  test('sign-up and profile text with SQL metacharacters and unicode edge cases: stored verbatim or refused with ValidationError, never an untyped error', async ({
    flow: h,
  }) => {
    const signUp = h.platform.resolve(SignUpService);
    const users = h.platform.resolve(UserRepository);
    let stored = 0;
    let refused = 0;
    const cases: string[] = [];
    properties++;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: codeUnit, minLength: 1, maxLength: 30 })), async (text) => {
        runs++;
        const email = `meta-${stored + refused}-${Date.now().toString(36)}@example.test`;
        const forbidden = breaksTextPolicy(text);
        const before = await snapshot(h);
        let result;
        try {
          result = await signUp.createAccount({
            email,
            password: PASSWORD,
            organizationName: `Org ${text}`,
            displayName: `Name ${text}`,
            ageConfirmed: true,
            emailVerified: true,
          });
        } catch (error) {
          if (!(error instanceof ValidationError)) {
            cases.push(JSON.stringify(text));
            throw new Error(`sign-up with ${JSON.stringify(text)} threw ${(error as Error).name}: ${(error as Error).message.slice(0, 200)}`, { cause: error });
          }
          refused++;
          expect(await snapshot(h)).toEqual(before);
          return;
        }
        stored++;
        // NUL and lone surrogates are refused (ValidationError), never stored or replaced with U+FFFD.
        expect(forbidden, `${JSON.stringify(text)} was stored`).toBe(false);
        const back = await users.getById(result.user.id);
        expect(back?.displayName).toBe(`Name ${text}`.trim());
        expect(result.organization.name).toBe(`Org ${text}`.trim());
      }),
      { numRuns: RUNS, seed: 42, endOnFailure: true },
    );
    const after = await snapshot(h);
    figures.set('b-metachar', {
      check: 'sign-up with SQL metacharacters / NUL / lone surrogates / RTL / emoji in names',
      measured: `stored verbatim or refused with ValidationError; users table intact: ${after.users_table === 1 ? 'yes' : 'NO'}`,
    });
    expect(after.users_table).toBe(1);
    expect(stored + refused).toBe(RUNS);
  });

  test('invalid UUIDs anywhere an id is taken → ValidationError, nothing read or written', async ({ flow: h }) => {
    const orgs = h.platform.resolve(OrganizationRepository);
    const sessions = h.platform.resolve(SessionRepository);
    const users = h.platform.resolve(UserRepository);
    const apiKeys = h.platform.resolve(ApiKeyRepository);
    const personas = h.platform.resolve(PersonaRepository);
    await property(h, 'uuids', badUuid, async (id) => {
      const s = as<string>(id);
      await rejectsTyped(() => orgs.getById(s), [ValidationError]);
      await rejectsTyped(() => users.getById(s), [ValidationError]);
      await rejectsTyped(() => sessions.get(s), [ValidationError]);
      await rejectsTyped(() => sessions.revoke(s, 'x'), [ValidationError]);
      await rejectsTyped(() => apiKeys.get(ctx, s), [ValidationError]);
      await rejectsTyped(() => personas.get(ctx, s), [ValidationError]);
    });
  });

  test('huge, negative and non-numeric page sizes → ValidationError on every list', async ({ flow: h }) => {
    const conversations = h.platform.resolve(ConversationRepository);
    const messages = h.platform.resolve(MessageRepository);
    const apiKeys = h.platform.resolve(ApiKeyRepository);
    const audit = h.platform.resolve(AuditRepository);
    const users = h.platform.resolve(UserRepository);
    const sessions = h.platform.resolve(SessionRepository);
    const personas = h.platform.resolve(PersonaRepository);
    const search = h.platform.resolve(KnowledgeSearch);
    await property(h, 'pages', badLimit, async (limit) => {
      const l = as<number>(limit);
      await rejectsTyped(() => conversations.listByUser(ctx, { limit: l }), [ValidationError]);
      await rejectsTyped(() => messages.pageBackwards(ctx, conversationId, { limit: l }), [ValidationError]);
      await rejectsTyped(() => messages.pageBackwards(ctx, conversationId, { cursor: String(l) }), [ValidationError]);
      await rejectsTyped(() => apiKeys.list(ctx, { limit: l }), [ValidationError]);
      await rejectsTyped(() => audit.query(ctx, {}, { limit: l }), [ValidationError]);
      await rejectsTyped(() => users.listForOrganization(ctx, { limit: l }), [ValidationError]);
      await rejectsTyped(() => sessions.listForOrganization(ctx, { limit: l }), [ValidationError]);
      await rejectsTyped(() => personas.list(ctx, { limit: l }), [ValidationError]);
      await rejectsTyped(() => search.semanticSearch(ctx, 'refund', { limit: l }), [ValidationError]);
    });
  });

  test('MongoDB: operator objects as ids, roles, user ids and cursors → ValidationError; no document changes', async ({ flow: h }) => {
    const conversations = h.platform.resolve(ConversationRepository);
    const messages = h.platform.resolve(MessageRepository);
    const documents = h.platform.resolve(KnowledgeDocumentRepository);
    const analytics = h.platform.resolve(AnalyticsRepository);
    const { NotFoundError } = await import('../../src/errors.js');
    await property(
      h,
      'nosql',
      fc.tuple(
        operatorValue.filter((v) => v !== undefined),
        hostile,
      ),
      async ([op, text]) => {
        const o = as<string>(op);
        await rejectsTyped(() => conversations.get(ctx, o), [ValidationError]);
        await rejectsTyped(() => conversations.rename(ctx, o, 'renamed'), [ValidationError]);
        await rejectsTyped(() => conversations.rename(ctx, conversationId, o), [ValidationError]);
        await rejectsTyped(() => conversations.archive(ctx, o), [ValidationError]);
        await rejectsTyped(() => conversations.delete(ctx, o), [ValidationError]);
        await rejectsTyped(() => conversations.listByUser(ctx, { userId: o }), [ValidationError]);
        await rejectsTyped(() => conversations.listByUser(ctx, { cursor: o }), [ValidationError]);
        await rejectsTyped(() => messages.append(ctx, o, { role: 'user', content: 'x' }), [ValidationError]);
        await rejectsTyped(() => messages.append(ctx, conversationId, as<{ role: 'user'; content: string }>({ role: op, content: 'x' })), [ValidationError]);
        await rejectsTyped(() => messages.append(ctx, conversationId, as<{ role: 'user'; content: string }>({ role: 'user', content: op })), [ValidationError]);
        await rejectsTyped(() => messages.pageBackwards(ctx, o), [ValidationError]);
        await rejectsTyped(() => documents.get(ctx, o), [ValidationError]);
        await rejectsTyped(() => documents.getMany(ctx, [o]), [ValidationError]);
        await rejectsTyped(() => analytics.record(ctx, as<{ type: string }>({ type: op })), [ValidationError]);
        await rejectsTyped(() => analytics.record(ctx, { type: 'evt', properties: { $set: { admin: true } } }), [ValidationError]);
        // A hostile string id is just an id that matches nothing.
        if (typeof text === 'string') await rejectsTyped(() => conversations.get(ctx, text), [ValidationError, NotFoundError]);
      },
    );
    const page = await messages.pageBackwards(ctx, conversationId);
    expect(page.items.map((m) => m.content)).toEqual(['hello']);
  });

  test('a cursor crafted to carry an operator is refused', async ({ flow: h }) => {
    const conversations = h.platform.resolve(ConversationRepository);
    properties++;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<unknown>([{ $gt: 0 }, 'x'], [0, { $ne: null }], { at: 1 }, [Number.NaN, 'x'], 'x'), async (payload) => {
        runs++;
        const cursor = Buffer.from(JSON.stringify(payload)).toString('base64url');
        await rejectsTyped(() => conversations.listByUser(ctx, { cursor }), [ValidationError]);
      }),
      { numRuns: 20, seed: 7 },
    );
  });

  test('an empty message is refused before the sequence number is taken (no seq gap, counters unchanged)', async ({ flow: h }) => {
    const messages = h.platform.resolve(MessageRepository);
    const conversations = h.platform.resolve(ConversationRepository);
    const before = await conversations.get(ctx, conversationId);
    await rejectsTyped(() => messages.append(ctx, conversationId, { role: 'user', content: '' }), [ValidationError]);
    const after = await conversations.get(ctx, conversationId);
    expect(after.messageCount).toBe(before.messageCount);
    const next = await messages.append(ctx, conversationId, { role: 'user', content: 'after the empty one' });
    expect(next.seq).toBe(await messages.countByConversation(ctx, conversationId));
  });

  test('message content: oversized, NUL and lone surrogates are refused, other edge-case unicode is stored and read back verbatim, seq stays gapless', async ({
    flow: h,
  }) => {
    const messages = h.platform.resolve(MessageRepository);
    await rejectsTyped(() => messages.append(ctx, conversationId, { role: 'user', content: 'x'.repeat(1_000_001) }), [ValidationError]);
    const start = await messages.countByConversation(ctx, conversationId);
    let appended = 0;
    properties++;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom(...NASTY.filter((n) => n !== '')), fc.string({ unit: codeUnit, minLength: 1, maxLength: 60 })),
        async (content) => {
          runs++;
          if (breaksTextPolicy(content)) {
            // The same text policy as PostgreSQL: MongoDB gets no NUL and no lone surrogate either.
            await rejectsTyped(() => messages.append(ctx, conversationId, { role: 'user', content }), [ValidationError]);
            return;
          }
          const m = await messages.append(ctx, conversationId, { role: 'user', content });
          appended++;
          expect(m.seq).toBe(start + appended);
          const back = await messages.pageBackwards(ctx, conversationId, { limit: 1 });
          expect(back.items[0]?.content).toBe(content);
        },
      ),
      { numRuns: RUNS, seed: 99, endOnFailure: true },
    );
    figures.set('c-messages', {
      check: `${RUNS} messages with NUL / lone surrogates / RTL / emoji; one of 1,000,001 characters`,
      measured: 'oversized, NUL and lone surrogates refused (ValidationError); the rest read back verbatim; seq gapless',
    });
  });

  // Issue 15, "What was seen" 7: 5,000-deep objects threw an untyped RangeError; lone surrogates became U+FFFD in
  // PostgreSQL, NUL and lone surrogates were stored verbatim in MongoDB, persona traits gave a generic POSTGRES_ERROR.
  test('one text and shape policy for every store: deep nesting, NUL and lone surrogates in JSON inputs → ValidationError (never RangeError)', async ({
    flow: h,
  }) => {
    const analytics = h.platform.resolve(AnalyticsRepository);
    const personas = h.platform.resolve(PersonaRepository);
    const conversations = h.platform.resolve(ConversationRepository);
    const persona = await personas.create(ctx, { name: 'policy target' });
    const nest = (depth: number): Record<string, unknown> => {
      let value: Record<string, unknown> = { leaf: true };
      for (let i = 0; i < depth; i++) value = { a: value };
      return value;
    };
    const inputs: Array<[string, (json: Record<string, unknown>) => Promise<unknown>]> = [
      ['analytics properties (MongoDB)', (json) => analytics.record(ctx, { type: 'evt', properties: json })],
      ['persona traits (PostgreSQL)', (json) => personas.create(ctx, { name: 'p', traits: json })],
      ['persona traits update (PostgreSQL)', (json) => personas.update(ctx, persona.id, { traits: json })],
      ['persona preference settings (PostgreSQL)', (json) => personas.setPreference(ctx, persona.id, { settings: json })],
    ];
    const deep = fc.oneof(fc.constant(5_000), fc.integer({ min: 40, max: 20_000 }));
    const badText = fc.constantFrom('\u0000', 'a\u0000b', '\uD800', 'x\uDFFFy', '\uDC00\uD800');
    const bad = fc.oneof(
      deep.map(nest),
      badText.map((t) => ({ note: t })),
      badText.map((t) => ({ [t]: 1 })),
      badText.map((t) => ({ list: [1, { deeper: [t] }] })),
    );
    await property(h, 'json-policy', bad, async (json) => {
      for (const [, write] of inputs) await rejectsTyped(() => write(json), [ValidationError]);
      // Plain text fields on both stores follow the same rule.
      const text = (json as Record<string, unknown>).note;
      if (typeof text === 'string') await rejectsTyped(() => conversations.create(ctx, { title: text }), [ValidationError]);
    });
    // The documented bound (INPUT_LIMITS.maxDepth = 32, counted from the input object): just past it is refused, just under it passes.
    await rejectsTyped(() => analytics.record(ctx, { type: 'evt', properties: nest(32) }), [ValidationError]);
    expect((await analytics.record(ctx, { type: 'evt', properties: nest(30) })).type).toBe('evt');
    const refused = await personas.create(ctx, { name: 'p', traits: nest(5_000) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues.map((i) => i.code)).toEqual(['too_deep']);
    figures.set('d-json-policy', {
      check: `${RUNS} JSON inputs nested 40–20,000 deep (5,000 included) or carrying NUL / lone surrogates, into analytics properties, persona traits and settings, conversation titles`,
      measured: 'all refused with ValidationError (too_deep / nul_character / lone_surrogate); no RangeError, no POSTGRES_ERROR',
    });
  });
});
