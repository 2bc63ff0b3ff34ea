export interface OutboxMessage {
  readonly id: number;
  readonly kind: 'email' | 'webhook';
  readonly topic: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly idempotencyKey: string;
  readonly organizationId: string | null;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly status: 'pending' | 'delivered' | 'dead';
  /** Delivery attempts so far (a claimed message counts its current attempt). */
  readonly attempts: number;
  readonly lastError: string | null;
  readonly createdAt: Date;
}
