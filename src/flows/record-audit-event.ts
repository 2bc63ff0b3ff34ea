import type { Logger } from '../logger.js';
import type { AuditEventInput } from '../postgres/repositories/audit-repository.js';
import type { AuditWriter } from '../postgres/repositories/audit-writer.js';

/**
 * Records an audit event the flow's answer does not depend on (a sign-in
 * notice, a failed code): a failure to record it is logged, never thrown.
 * Security events that must commit with their change go through the
 * repository's transaction instead (`events` of the repository call).
 */
export async function recordAuditEvent(audit: AuditWriter, logger: Logger, event: AuditEventInput): Promise<void> {
  await audit.record(event).catch((error: unknown) => logger.error('audit event not recorded', { eventType: event.eventType, error }));
}
