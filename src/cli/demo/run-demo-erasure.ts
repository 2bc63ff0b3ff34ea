import { PlatformError } from '../../errors.js';
import { ErasureFlow } from '../../flows/privacy/erasure-flow.js';
import type { Platform } from '../../platform.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';

/** Demo step: erase a user through the erasure queue, then scan all four stores for remains. */
export async function runDemoErasure(
  platform: Platform,
  subject: { userId: string; organizationId: string; ownerContext: TenantContext },
  say: (line: string) => void,
): Promise<void> {
  const erasure = platform.resolve(ErasureFlow);
  const worker = await erasure.startWorker({ concurrency: 1 });
  try {
    const request = await erasure.eraseUser(subject.userId, { reason: 'demo: user asked to be forgotten' });
    const done = await erasure.waitFor(request.id, { timeoutMs: 60_000 });
    say(`request ${done.id.slice(0, 8)}… ${done.status}: ${done.steps.map((s) => `${s.step} ${s.status}`).join(', ')}`);
    const remains = await erasure.verifyErased(subject.userId);
    if (remains.length > 0) throw new PlatformError('DEMO_FAILED', `erasure left ${remains.map((r) => `${r.store}/${r.kind}: ${r.count}`).join(', ')}`);
    say('verifyErased: nothing of the user remains in PostgreSQL, MongoDB, Qdrant or Redis (audit rows pseudonymised)');
  } finally {
    await worker.close();
  }
}
