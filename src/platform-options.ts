import type { DependencyContainer } from 'tsyringe';
import { z } from 'zod';
import type { StoreName } from './errors.js';
import { authFlowOptionsSchema, DEFAULT_AUTH_FLOW_OPTIONS, type AuthFlowOptions } from './auth-flow-options.js';
import type { AuthNotifier } from './auth-notifier.js';
import { DEFAULT_IDENTITY_FLOW_OPTIONS, identityFlowOptionsSchema, type IdentityFlowOptions } from './identity-flow-options.js';
import type { IdentityNotifier } from './identity-notifier.js';
import {
  DEFAULT_OUTBOX_RELAY_OPTIONS,
  outboxRelayOptionsFields,
  outboxRelayOptionsSchema,
  type OutboxEmailSender,
  type OutboxRelayOptions,
} from './outbox-relay-options.js';
import { DEFAULT_SIGNING_KEY_OPTIONS, signingKeyOptionsSchema, type SigningKeyOptions } from './signing-key-options.js';
import type { Embedder } from './embedder.js';
import type { ErasureStepEvent } from './erasure-flow-options.js';
import type { TextSplitter } from './text-splitter.js';
import type { Logger } from './logger.js';
import type { MaintenanceOptions } from './maintenance-options.js';
import { DEFAULT_INTEGRATION_TOKEN_OPTIONS, type IntegrationTokenRefresher } from './integration-token-options.js';
import { parseInput } from './parse-input.js';
import type { Config } from './config.js';
import {
  AUDIT_WRITER_OPTIONS,
  AUTH_FLOW_OPTIONS,
  AUTH_NOTIFIER,
  CONFIG,
  EMBEDDER,
  ERASURE_FLOW_OPTIONS,
  IDENTITY_FLOW_OPTIONS,
  IDENTITY_NOTIFIER,
  KNOWLEDGE_INGESTION_OPTIONS,
  LOGGER,
  INTEGRATION_TOKEN_OPTIONS,
  MAINTENANCE_OPTIONS,
  OUTBOX_EMAIL_SENDER,
  OUTBOX_RELAY_OPTIONS,
  SIGNING_KEY_OPTIONS,
  TEXT_SPLITTER,
} from './tokens.js';

export const STORE_NAMES: readonly StoreName[] = ['postgres', 'mongo', 'qdrant', 'redis'];

/** An object with these methods (an interface the application implements; its behaviour is the application's). */
const implementing = <T>(name: string, methods: readonly string[]) =>
  z.custom<T>(
    (v) => typeof v === 'object' && v !== null && methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    `must be a ${name} (an object with ${methods.join(', ')})`,
  );

const count = (max: number) => z.number().int().min(1).max(max);
const days = z.number().int().min(0).max(3650);

/**
 * What `createPlatform(config, options)` accepts. Every field is optional; an
 * options object is merged over the defaults of its service, so
 * `{ authFlows: { requireVerifiedEmail: false } }` changes one knob.
 */
export const platformOptionsSchema = z
  .object({
    /** Which stores to connect (default: all four). */
    stores: z
      .array(z.enum(STORE_NAMES as [StoreName, ...StoreName[]]))
      .min(1)
      .refine((s) => new Set(s).size === s.length, 'must not repeat a store')
      .readonly()
      .optional(),
    /** Logger to use (default: JSON lines on stderr at `config.logLevel`). */
    logger: implementing<Logger>('Logger', ['debug', 'info', 'warn', 'error']).optional(),
    /**
     * The embedding model behind knowledge ingestion and search (default: the
     * deterministic HashingEmbedder, dimension 256 — for tests and demos). Its
     * dimension sizes the Qdrant collection.
     */
    embedder: implementing<Embedder>('Embedder', ['embed'])
      .refine((e) => Number.isInteger(e.dimension) && e.dimension > 0, 'dimension must be a positive integer')
      .optional(),
    /** How documents are cut into chunks (default: LangchainTextSplitter with its defaults). */
    textSplitter: implementing<TextSplitter>('TextSplitter', ['split']).optional(),
    /** Delivers verification and password-reset e-mails (default: DiscardingAuthNotifier, which logs and drops them). */
    authNotifier: implementing<AuthNotifier>('AuthNotifier', ['passwordReset', 'emailVerification']).optional(),
    /**
     * Session lifetimes, merged over the configuration: `confirmWindowSeconds` overrides SESSION_CONFIRM_WINDOW_SECONDS
     * (how long a new session lives until its first validation or refresh confirms it; default 600).
     */
    sessions: z
      .object({ confirmWindowSeconds: z.number().int().min(1).max(86_400) })
      .partial()
      .strict()
      .optional(),
    /** Auth flow policy knobs, merged over DEFAULT_AUTH_FLOW_OPTIONS. */
    authFlows: authFlowOptionsSchema.partial().optional(),
    /** Delivers magic links, sign-in codes and email-change links (default: DiscardingIdentityNotifier, which logs and drops them). */
    identityNotifier: implementing<IdentityNotifier>('IdentityNotifier', ['magicLink', 'signInCode', 'emailChange']).optional(),
    /**
     * Passkey, passwordless and email-change options, merged over DEFAULT_IDENTITY_FLOW_OPTIONS
     * (`webauthn` and `emailChange` key by key, so `{ webauthn: { rpId } }` keeps the other WebAuthn settings).
     */
    identityFlows: identityFlowOptionsSchema
      .extend({
        webauthn: identityFlowOptionsSchema.shape.webauthn.partial(),
        emailChange: identityFlowOptionsSchema.shape.emailChange.partial(),
      })
      .partial()
      .optional(),
    /** Access-token signing keys (algorithm, rotation, issuer, audience), merged over DEFAULT_SIGNING_KEY_OPTIONS. */
    signingKeys: signingKeyOptionsSchema.partial().optional(),
    /**
     * The outbox relay, merged over DEFAULT_OUTBOX_RELAY_OPTIONS and then validated whole, so a rule
     * across fields (`leaseMs` must exceed `deliveryTimeoutMs`) also sees the defaults it is merged with.
     */
    outboxRelay: outboxRelayOptionsFields
      .partial()
      .transform((patch) => mergeOver<OutboxRelayOptions>(DEFAULT_OUTBOX_RELAY_OPTIONS, patch))
      .pipe(outboxRelayOptionsSchema)
      .optional(),
    /** The application's mailer for outbox emails (default: none — email messages retry and end as dead letters). */
    outboxEmailSender: implementing<OutboxEmailSender>('OutboxEmailSender', ['send']).optional(),
    /** Audit writer batching, merged over DEFAULT_AUDIT_WRITER_OPTIONS. */
    auditWriter: z
      .object({ maxQueue: count(1_000_000), maxBatch: count(10_000), flushIntervalMs: count(60_000), flushConcurrency: count(4) })
      .partial()
      .strict()
      .optional(),
    /** Knowledge ingestion batching and retries, merged over DEFAULT_KNOWLEDGE_INGESTION_OPTIONS. */
    knowledgeIngestion: z
      .object({
        embedBatchSize: count(10_000),
        upsertBatchSize: count(10_000),
        attempts: count(100),
        backoffMs: count(3_600_000),
        stuckAfterMs: count(7 * 86_400_000),
      })
      .partial()
      .strict()
      .optional(),
    /** Erasure step retries, leases and sweep, merged over DEFAULT_ERASURE_FLOW_OPTIONS. */
    erasureFlow: z
      .object({
        attempts: count(100),
        backoffMs: count(3_600_000),
        /** Lease on a running step (ms, renewed every third of it): a killed worker's step is taken over this long after its last heartbeat. */
        leaseMs: z.number().int().min(300).max(3_600_000),
        /** How often a started worker sweeps for steps nobody holds (ms). */
        sweepEveryMs: z.number().int().min(100).max(3_600_000),
        /** Observation point between a step's effects and its bookkeeping (tests use it to simulate a crash there). */
        onStep: z.custom<(event: ErasureStepEvent) => void | Promise<void>>((v) => typeof v === 'function', 'must be a function').optional(),
      })
      .partial()
      .strict()
      .optional(),
    /**
     * Refresh on read of integration tokens, merged over DEFAULT_INTEGRATION_TOKEN_OPTIONS:
     * `refreshers` by integration name (each calls the provider's token endpoint).
     */
    integrationTokens: z
      .object({
        refreshers: z.record(
          z.string().regex(/^[a-z0-9_-]{1,64}$/, 'must be an integration name: 1-64 characters of a-z, 0-9, "_", "-"'),
          z.custom<IntegrationTokenRefresher>((v) => typeof v === 'function', 'must be a function (request) => Promise<tokens>'),
        ),
        refreshWithinSeconds: count(86_400),
        refreshTimeoutMs: count(60_000),
      })
      .partial()
      .strict()
      .optional(),
    /** Scheduled maintenance, merged over `config.maintenance` (the MAINTENANCE_* and *_RETENTION_DAYS variables). */
    maintenance: z
      .object({
        everySeconds: z.number().int().min(60).max(604_800),
        cron: z
          .string()
          .trim()
          .regex(/^(\S+\s+){4,5}\S+$/, 'must be a cron pattern of 5 or 6 fields'),
        batchSize: count(10_000),
        maxBatchesPerJob: count(100_000),
        auditRetentionDays: count(3650),
        auditMonthsAhead: z.number().int().min(0).max(36),
        endedSessionDays: days,
        rotatedRefreshTokenDays: count(3650),
        verificationTokenDays: days,
        integrationTokenDays: days,
        invitationDays: days,
        historyDays: count(3650),
        removeVoiceAudio: z.custom<NonNullable<MaintenanceOptions['removeVoiceAudio']>>((v) => typeof v === 'function', 'must be a function').optional(),
      })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

export type PlatformOptions = z.input<typeof platformOptionsSchema>;

/**
 * Validates `options` and registers what it sets over the defaults the store
 * folders and flows registered.
 *
 * @throws ValidationError naming every invalid option (`options.authFlows.passwordHistoryDepth` …)
 */
export function applyPlatformOptions(container: DependencyContainer, options: PlatformOptions): void {
  const o = parseInput(platformOptionsSchema, options, 'options');
  if (o.logger) container.registerInstance(LOGGER, o.logger);
  if (o.sessions?.confirmWindowSeconds !== undefined) {
    const config = container.resolve<Config>(CONFIG);
    container.registerInstance(CONFIG, { ...config, auth: { ...config.auth, sessionConfirmWindowSeconds: o.sessions.confirmWindowSeconds } });
  }
  if (o.embedder) container.registerInstance(EMBEDDER, o.embedder);
  if (o.textSplitter) container.registerInstance(TEXT_SPLITTER, o.textSplitter);
  if (o.authNotifier) container.registerInstance(AUTH_NOTIFIER, o.authNotifier);
  if (o.authFlows) container.register(AUTH_FLOW_OPTIONS, { useValue: mergeOver<AuthFlowOptions>(DEFAULT_AUTH_FLOW_OPTIONS, o.authFlows) });
  if (o.identityNotifier) container.registerInstance(IDENTITY_NOTIFIER, o.identityNotifier);
  if (o.identityFlows) container.register(IDENTITY_FLOW_OPTIONS, { useValue: mergeOver<IdentityFlowOptions>(DEFAULT_IDENTITY_FLOW_OPTIONS, o.identityFlows) });
  if (o.signingKeys) container.register(SIGNING_KEY_OPTIONS, { useValue: mergeOver<SigningKeyOptions>(DEFAULT_SIGNING_KEY_OPTIONS, o.signingKeys) });
  if (o.outboxRelay) container.register(OUTBOX_RELAY_OPTIONS, { useValue: o.outboxRelay });
  if (o.outboxEmailSender) container.register(OUTBOX_EMAIL_SENDER, { useValue: o.outboxEmailSender });
  if (o.auditWriter) container.register(AUDIT_WRITER_OPTIONS, { useValue: mergeOver(container.resolve(AUDIT_WRITER_OPTIONS), o.auditWriter) });
  if (o.knowledgeIngestion) container.register(KNOWLEDGE_INGESTION_OPTIONS, { useValue: o.knowledgeIngestion });
  if (o.integrationTokens) container.register(INTEGRATION_TOKEN_OPTIONS, { useValue: mergeOver(DEFAULT_INTEGRATION_TOKEN_OPTIONS, o.integrationTokens) });
  if (o.maintenance) container.register(MAINTENANCE_OPTIONS, { useValue: o.maintenance });
  if (o.erasureFlow) container.register(ERASURE_FLOW_OPTIONS, { useValue: mergeOver(container.resolve(ERASURE_FLOW_OPTIONS), o.erasureFlow) });
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** `patch` over `defaults`: undefined fields keep the default; a nested plain object is merged key by key (arrays and functions replace). */
function mergeOver<T extends object>(defaults: T, patch: { readonly [K in keyof T]?: unknown }): T {
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const base = merged[key];
    merged[key] = isPlainObject(base) && isPlainObject(value) ? mergeOver(base, value) : value;
  }
  return Object.freeze(merged) as T;
}
