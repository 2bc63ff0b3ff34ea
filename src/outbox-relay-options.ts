import { z } from 'zod';
import type { OutboxMessage } from './outbox-message.js';

/** Delivers an outbox email (the application's mailer). Throw to retry; the message's `idempotencyKey` identifies repeats. */
export interface OutboxEmailSender {
  send(message: OutboxMessage): Promise<void>;
}

/** The fields of {@link outboxRelayOptionsSchema}, without its cross-field rule (so `PlatformOptions` can take a partial). */
export const outboxRelayOptionsFields = z
  .object({
    /** Messages claimed per round. */
    batchSize: z.number().int().min(1).max(1_000),
    /** How long a claim holds a message; a relay that dies mid-delivery loses it after this. Must exceed `deliveryTimeoutMs`. */
    leaseMs: z.number().int().min(1_000).max(3_600_000),
    /** The longest one delivery (HTTP request or the email sender) may take. */
    deliveryTimeoutMs: z.number().int().min(100).max(600_000),
    /** Attempts before a message becomes a dead letter. */
    maxAttempts: z.number().int().min(1).max(100),
    /** Backoff after the n-th failure: min(`backoffMaxMs`, `backoffBaseMs` × 2^(n−1)), with "equal jitter" (half fixed, half random). */
    backoffBaseMs: z.number().int().min(0).max(3_600_000),
    backoffMaxMs: z.number().int().min(0).max(86_400_000),
    /** Pause between rounds of `start()` when a round found nothing to do. */
    pollIntervalMs: z.number().int().min(10).max(600_000),
    /**
     * The webhook signing secret (Standard Webhooks: `whsec_` + base64 of the key bytes, or any string of ≥ 32 characters).
     * Without it, webhook messages fail and end as dead letters: an unsigned webhook is never sent.
     */
    webhookSecret: z.string().min(32).max(512).optional(),
    /** Allow `http:` webhook URLs (tests, local development); default only `https:`. */
    allowInsecureWebhookUrls: z.boolean().default(false),
  })
  .strict();

/**
 * The outbox relay's policy. `registerFlows` registers {@link DEFAULT_OUTBOX_RELAY_OPTIONS};
 * set your own with `createPlatform(config, { outboxRelay })` (merged over the defaults, validated whole).
 */
export const outboxRelayOptionsSchema = outboxRelayOptionsFields.refine((o) => o.leaseMs > o.deliveryTimeoutMs, {
  message: 'must exceed deliveryTimeoutMs',
  path: ['leaseMs'],
});
export type OutboxRelayOptions = z.input<typeof outboxRelayOptionsSchema>;

export const DEFAULT_OUTBOX_RELAY_OPTIONS: OutboxRelayOptions = Object.freeze({
  batchSize: 50,
  leaseMs: 60_000,
  deliveryTimeoutMs: 10_000,
  maxAttempts: 8,
  backoffBaseMs: 1_000,
  backoffMaxMs: 3_600_000,
  pollIntervalMs: 1_000,
});

/** The default sender: refuses, so email messages retry and end as dead letters (visible) until the application registers its mailer. */
export const NO_OUTBOX_EMAIL_SENDER: OutboxEmailSender = Object.freeze({
  async send(): Promise<void> {
    throw new Error('no OutboxEmailSender registered (OUTBOX_EMAIL_SENDER)');
  },
});
