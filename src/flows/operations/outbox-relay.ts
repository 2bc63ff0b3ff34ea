import { createHmac } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Lifecycle } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import { parseInput } from '../../parse-input.js';
import { OutboxRepository } from '../../postgres/repositories/outbox-repository.js';
import { type OutboxMessage } from '../../outbox-message.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { LIFECYCLE, LOGGER, OUTBOX_EMAIL_SENDER, OUTBOX_RELAY_OPTIONS } from '../../tokens.js';
import { withTimeout } from '../../with-timeout.js';
import { outboxRelayOptionsSchema, type OutboxEmailSender, type OutboxRelayOptions } from '../../outbox-relay-options.js';

/** What one round of the relay did. */
export interface OutboxRound {
  readonly delivered: number;
  readonly retried: number;
  readonly dead: number;
}

/** A webhook message's payload: where to POST and the JSON body. */
const webhookPayload = z.object({ url: z.url(), body: z.unknown() }).strict();

/**
 * The Standard Webhooks signature (standardwebhooks.com, spec "Signature scheme"): HMAC-SHA256
 * with the secret's bytes over `${webhook-id}.${webhook-timestamp}.${body}`, base64, sent as `v1,<sig>`.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/**
 * Delivers the transactional outbox at least once: claims due messages (one
 * per aggregate, so an aggregate's messages go out in order; `SKIP LOCKED`
 * and a lease, so several relays share the work and a dead relay's claims
 * come back), sends each within `deliveryTimeoutMs` — webhooks as signed
 * HTTP POSTs, emails through the application's {@link OutboxEmailSender} —
 * and marks it delivered, retried with exponential backoff and jitter, or
 * dead after `maxAttempts` (see `OutboxRepository.deadLetters`).
 *
 * Why polling PostgreSQL rather than a BullMQ queue: the messages already live
 * in PostgreSQL (written in the change's transaction), per-aggregate order and
 * "at least once after a crash" fall out of one claim query, and a queue in
 * Redis would need a reconciler from this table anyway (rule 1 of the house).
 */
@injectable()
@accessControlled
export class OutboxRelay {
  readonly #options: z.output<typeof outboxRelayOptionsSchema>;
  #running: Promise<void> | undefined;
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(
    @inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @inject(OUTBOX_EMAIL_SENDER) private readonly email: OutboxEmailSender,
    @inject(OUTBOX_RELAY_OPTIONS) options: OutboxRelayOptions,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(LIFECYCLE) lifecycle: Lifecycle,
  ) {
    this.#options = parseInput(outboxRelayOptionsSchema, options, 'outboxRelayOptions');
    lifecycle.onStop('outbox-relay', () => this.stop());
  }

  /**
   * One round: claim up to `batchSize` due messages and deliver them (different aggregates in parallel).
   * @throws StoreUnavailableError when PostgreSQL cannot be reached (nothing was claimed, or claims expire after `leaseMs`)
   */
  @declareAccess({ systemJob: 'the outbox relay' })
  async runOnce(): Promise<OutboxRound> {
    const claimed = await this.outbox.claim({ limit: this.#options.batchSize, leaseMs: this.#options.leaseMs });
    const outcomes = await Promise.all(claimed.map((m) => this.#process(m)));
    return {
      delivered: outcomes.filter((o) => o === 'delivered').length,
      retried: outcomes.filter((o) => o === 'retried').length,
      dead: outcomes.filter((o) => o === 'dead').length,
    };
  }

  /** Runs rounds until {@link stop}: back to back while there is work, else every `pollIntervalMs`. Idempotent. */
  @declareAccess({ systemJob: 'the outbox relay' })
  start(): void {
    if (this.#running) return;
    this.#stopping = false;
    this.#running = this.#loop();
  }

  /** Stops after the current round (bounded by `deliveryTimeoutMs` per message). Idempotent. */
  @declareAccess({ systemJob: 'the outbox relay' })
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#running;
    this.#running = undefined;
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      let busy = false;
      try {
        const round = await this.runOnce();
        busy = round.delivered + round.retried + round.dead > 0;
      } catch (error) {
        this.logger.warn('outbox relay round failed; retrying after the poll interval', { error });
      }
      if (busy || this.#stopping) continue;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, this.#options.pollIntervalMs);
        this.#timer.unref();
      });
    }
  }

  async #process(message: OutboxMessage): Promise<'delivered' | 'retried' | 'dead'> {
    try {
      await withTimeout(this.#deliver(message), this.#options.deliveryTimeoutMs, () => new Error(`delivery exceeded ${this.#options.deliveryTimeoutMs} ms`));
      await this.outbox.markDelivered(message.id);
      return 'delivered';
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (message.attempts >= this.#options.maxAttempts) {
        await this.outbox.markDead(message.id, reason);
        this.logger.warn('outbox message moved to the dead letters', { id: message.id, topic: message.topic, attempts: message.attempts });
        return 'dead';
      }
      await this.outbox.reschedule(message.id, this.#backoff(message.attempts), reason);
      return 'retried';
    }
  }

  /** Exponential backoff with "equal jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
  #backoff(attempts: number): number {
    const ceiling = Math.min(this.#options.backoffMaxMs, this.#options.backoffBaseMs * 2 ** Math.min(attempts - 1, 30));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  async #deliver(message: OutboxMessage): Promise<void> {
    if (message.kind === 'email') return this.email.send(message);
    const secret = this.#options.webhookSecret;
    if (secret === undefined) throw new Error('no webhookSecret configured: unsigned webhooks are never sent');
    const { url, body } = webhookPayload.parse(message.payload);
    const target = new URL(url);
    if (target.protocol !== 'https:' && !(this.#options.allowInsecureWebhookUrls && target.protocol === 'http:'))
      throw new Error(`webhook URL scheme ${target.protocol} not allowed`);
    const text = JSON.stringify({ type: message.topic, timestamp: message.createdAt.toISOString(), data: body });
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(target, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(this.#options.deliveryTimeoutMs),
      headers: {
        'content-type': 'application/json',
        'webhook-id': message.idempotencyKey,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(secret, message.idempotencyKey, timestamp, text),
      },
      body: text,
    });
    await response.body?.cancel();
    if (response.status < 200 || response.status >= 300) throw new Error(`webhook answered HTTP ${response.status}`);
  }
}
