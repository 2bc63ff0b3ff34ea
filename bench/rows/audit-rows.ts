import { AuditRepository, type AuditEventInput } from '../../src/postgres/repositories/audit-repository.js';
import { AuditWriter } from '../../src/postgres/repositories/audit-writer.js';
import { timeOrderedUuid } from '../../src/time-ordered-uuid.js';
import type { BenchRow } from '../bench-result.js';
import { measuredRow } from '../bench-row.js';
import type { BenchContext } from '../bench-context.js';
import { runInterleaved } from '../interleaved-runner.js';
import { PROFILE_ROW } from './profile-row-names.js';

const CONCURRENCY = 4;
/** Events each caller records before awaiting a flush: what a busy request loop produces between flushes. */
const EVENTS_PER_OP = 250;

/**
 * Row 4: events per second through the batching AuditWriter (record × N, then
 * flush — so every counted event is on disk) vs AuditRepository.append of one
 * event at a time (one INSERT per event, same validation and SQL path).
 */
export async function auditRow(ctx: BenchContext): Promise<BenchRow> {
  const writer = ctx.platform.resolve(AuditWriter);
  const repository = ctx.platform.resolve(AuditRepository);
  let n = 0;
  const event = (): AuditEventInput => {
    n += 1;
    return { eventType: 'auth.login.succeeded', ip: '203.0.113.7', userAgent: 'bench/1.0', riskScore: n % 100, details: { attempt: n } };
  };
  ctx.log('  audit writes');
  const result = await runInterleaved(
    async () => {
      for (let i = 0; i < EVENTS_PER_OP; i += 1) await writer.record(event());
      await writer.flush();
      return EVENTS_PER_OP;
    },
    async () => {
      await repository.append([event()]);
    },
    { ...ctx.timing, concurrency: CONCURRENCY },
  );
  return measuredRow(
    {
      name: 'audit writes',
      unit: 'event',
      oursLabel: `AuditWriter: ${EVENTS_PER_OP} × record() then flush() per call (one INSERT … unnest … ON CONFLICT per batch, pipelined with its scope: one round trip)`,
      baselineLabel: 'AuditRepository.append([event]): one INSERT per event',
      goal: '≥ 20×',
      goalMinRatio: 20,
      backend: ctx.backends.postgres,
      shortfall: {
        reason:
          "COPY is refused under row-level security for the application role, so a batch is one INSERT … SELECT unnest … ON CONFLICT; that INSERT alone (events validated beforehand) is the profile row: its gap to 20× is the server's per-row work (indexes, checks, the RLS check, the ON CONFLICT arbiter), its gap to this row record()'s client-side work",
        profiles: [PROFILE_ROW.auditInsert],
      },
      note: `${CONCURRENCY} callers per side; ours' latency columns are per ${EVENTS_PER_OP}-event call`,
    },
    result,
  );
}

/** Events per INSERT in the profile row: the writer's default `maxBatch`. */
const PROFILE_BATCH = 500;

/**
 * Profile: what batching can give once validation is out of the way — the
 * writer's INSERT alone (`appendValidated` of 500 events validated and
 * stamped before the clock starts, as `record()` leaves them) vs the audit
 * row's baseline. Read beside row 4: the gap between the two ratios is
 * `record()`'s client-side work (validation, stamping, queueing); what this
 * row lacks of 20× is the server's per-row work (five indexes, nine checks,
 * the row-level-security check, the ON CONFLICT arbiter).
 */
export async function auditInsertProfileRow(ctx: BenchContext): Promise<BenchRow> {
  const repository = ctx.platform.resolve(AuditRepository);
  let n = 0;
  const input = (): AuditEventInput => {
    n += 1;
    return { eventType: 'auth.login.succeeded', ip: '203.0.113.7', userAgent: 'bench/1.0', riskScore: n % 100, details: { attempt: n } };
  };
  // Validated once; each call stamps fresh keys (what record() adds), so every INSERT writes new rows.
  const template = Array.from({ length: PROFILE_BATCH }, () => repository.validate(input()));
  ctx.log('  profile: audit batch INSERT alone');
  const result = await runInterleaved(
    async () => {
      const now = new Date();
      await repository.appendValidated(template.map((e) => ({ ...e, occurredAt: now, id: timeOrderedUuid(now.getTime()) })));
      return PROFILE_BATCH;
    },
    async () => {
      await repository.append([input()]);
    },
    { ...ctx.timing, concurrency: CONCURRENCY },
  );
  return measuredRow(
    {
      name: PROFILE_ROW.auditInsert,
      unit: 'event',
      oursLabel: `AuditRepository.appendValidated of ${PROFILE_BATCH} events validated beforehand (the writer's INSERT without record())`,
      baselineLabel: 'AuditRepository.append([event]): one INSERT per event, as row 4',
      backend: ctx.backends.postgres,
      note: `informational: ${CONCURRENCY} callers per side; the gap to row 4 is record()'s client-side work, the gap to 20× the server's per-row insert work`,
    },
    result,
  );
}
