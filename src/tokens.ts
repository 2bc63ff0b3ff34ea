import type { InjectionToken } from 'tsyringe';
import type { Config } from './config.js';
import type { AuthFlowOptions } from './auth-flow-options.js';
import type { AuthNotifier } from './auth-notifier.js';
import type { IdentityFlowOptions } from './identity-flow-options.js';
import type { IdentityNotifier } from './identity-notifier.js';
import type { Embedder } from './embedder.js';
import type { ErasureFlowOptions } from './erasure-flow-options.js';
import type { MaintenanceOptions } from './maintenance-options.js';
import type { KnowledgeIngestionOptions } from './knowledge-ingestion-options.js';
import type { TextSplitter } from './text-splitter.js';
import type { SigningKeyOptions } from './signing-key-options.js';
import type { OutboxEmailSender, OutboxRelayOptions } from './outbox-relay-options.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';
import type { AuditWriterOptions } from './audit-writer-options.js';
import type { IntegrationTokenOptions } from './integration-token-options.js';
import type { StoreProvisioner } from './store-provisioner.js';

/*
 * Every DI token of the package, in one place. Resolve them from
 * `platform.container` or inject them with `@inject(TOKEN)`. The options
 * tokens are set from `createPlatform(config, options)` (PlatformOptions,
 * validated); `platform.container.register(TOKEN, …)` after creation replaces
 * a registration without validation (docs/architecture.md, "Options").
 *
 * Every type a token carries is a root contract (the options and the
 * interfaces the application implements live in root files), so this file,
 * imported by every folder, imports no folder (test/unit/import-boundaries.test.ts).
 */

export const CONFIG: InjectionToken<Config> = Symbol.for('platform-data.Config');
export const LOGGER: InjectionToken<Logger> = Symbol.for('platform-data.Logger');
export const LIFECYCLE: InjectionToken<Lifecycle> = Symbol.for('platform-data.Lifecycle');
/** Multi-registration token: every store registers its StoreProvisioner under it. */
export const PROVISIONER: InjectionToken<StoreProvisioner> = Symbol.for('platform-data.StoreProvisioner');
/**
 * Vector size of the knowledge collection: the knowledge flows register it as
 * the EMBEDDER's dimension, so the qdrant folder knows the number without
 * knowing the embedder.
 */
export const EMBEDDING_DIMENSION: InjectionToken<number> = Symbol.for('platform-data.EmbeddingDimension');
/** The application's Embedder (default: HashingEmbedder, dimension 256); set it with `createPlatform(config, { embedder })`. */
export const EMBEDDER: InjectionToken<Embedder> = Symbol.for('platform-data.Embedder');
/** The TextSplitter the ingestion pipeline uses (default: LangchainTextSplitter with its defaults). */
export const TEXT_SPLITTER: InjectionToken<TextSplitter> = Symbol.for('platform-data.TextSplitter');
/** The audit writer's options (default: DEFAULT_AUDIT_WRITER_OPTIONS); set them with `createPlatform(config, { auditWriter })`. */
export const AUDIT_WRITER_OPTIONS: InjectionToken<AuditWriterOptions> = Symbol.for('platform-data.AuditWriterOptions');
/** A partial object merged over DEFAULT_KNOWLEDGE_INGESTION_OPTIONS; set it with `createPlatform(config, { knowledgeIngestion })`. */
export const KNOWLEDGE_INGESTION_OPTIONS: InjectionToken<Partial<KnowledgeIngestionOptions>> = Symbol.for('platform-data.KnowledgeIngestionOptions');
/** The auth flows' options (default: DEFAULT_AUTH_FLOW_OPTIONS); set them with `createPlatform(config, { authFlows })`. */
export const AUTH_FLOW_OPTIONS: InjectionToken<AuthFlowOptions> = Symbol.for('platform-data.AuthFlowOptions');
/** Delivers verification and reset e-mails (default: DiscardingAuthNotifier); set it with `createPlatform(config, { authNotifier })`. */
export const AUTH_NOTIFIER: InjectionToken<AuthNotifier> = Symbol.for('platform-data.AuthNotifier');
/** Options of the passkey, passwordless and email-change flows (default: DEFAULT_IDENTITY_FLOW_OPTIONS); set them with `createPlatform(config, { identityFlows })`. */
export const IDENTITY_FLOW_OPTIONS: InjectionToken<IdentityFlowOptions> = Symbol.for('platform-data.IdentityFlowOptions');
/** Delivers magic links, sign-in codes and email-change links (default: DiscardingIdentityNotifier); set it with `createPlatform(config, { identityNotifier })`. */
export const IDENTITY_NOTIFIER: InjectionToken<IdentityNotifier> = Symbol.for('platform-data.IdentityNotifier');
/** The erasure flow's retry options (default: DEFAULT_ERASURE_FLOW_OPTIONS); set them with `createPlatform(config, { erasureFlow })`. */
export const ERASURE_FLOW_OPTIONS: InjectionToken<ErasureFlowOptions> = Symbol.for('platform-data.ErasureFlowOptions');
/** A partial object merged over `config.maintenance`; set it with `createPlatform(config, { maintenance })`. */
export const MAINTENANCE_OPTIONS: InjectionToken<Partial<MaintenanceOptions>> = Symbol.for('platform-data.MaintenanceOptions');
/** Refresh on read of integration tokens (default: DEFAULT_INTEGRATION_TOKEN_OPTIONS, no refreshers); set it with `createPlatform(config, { integrationTokens })`. */
export const INTEGRATION_TOKEN_OPTIONS: InjectionToken<IntegrationTokenOptions> = Symbol.for('platform-data.IntegrationTokenOptions');
/** The access-token signing keys' policy (default: DEFAULT_SIGNING_KEY_OPTIONS); set them with `createPlatform(config, { signingKeys })`. */
export const SIGNING_KEY_OPTIONS: InjectionToken<SigningKeyOptions> = Symbol.for('platform-data.SigningKeyOptions');
/** The outbox relay's options (default: DEFAULT_OUTBOX_RELAY_OPTIONS); set them with `createPlatform(config, { outboxRelay })`. */
export const OUTBOX_RELAY_OPTIONS: InjectionToken<OutboxRelayOptions> = Symbol.for('platform-data.OutboxRelayOptions');
/** The application's mailer for outbox emails (no default: email messages retry and end as dead letters until one is set with `createPlatform(config, { outboxEmailSender })`). */
export const OUTBOX_EMAIL_SENDER: InjectionToken<OutboxEmailSender> = Symbol.for('platform-data.OutboxEmailSender');
