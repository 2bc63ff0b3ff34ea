import type { ErasureFlow } from '../../flows/privacy/erasure-flow.js';
import type { ErasureRemainder } from '../../flows/privacy/erasure-verification.js';
import type { ErasureRequestRecord } from '../../postgres/repositories/erasure-request-repository.js';
import { EXIT, out, printJson } from '../cli-output.js';

export function formatRequest(request: ErasureRequestRecord): string {
  const steps = request.steps.map((s) => `${s.step}:${s.status}`).join(' ');
  return `request ${request.id} (${request.subjectType} ${request.subjectId}) ${request.status} — ${steps}`;
}

/**
 * Reports an erasure request the CLI just made: without `wait`, that it is
 * queued; with `wait`, runs the erasure worker in this process until the
 * request completes, then verifies nothing remains.
 * @returns the exit code: 0 queued or verified empty, 1 something remains
 */
export async function finishErasure(
  flow: ErasureFlow,
  request: ErasureRequestRecord,
  options: { readonly wait?: boolean; readonly json?: boolean; readonly timeoutSeconds: number },
  verify: () => Promise<ErasureRemainder[]>,
): Promise<number> {
  if (!options.wait) {
    if (options.json) printJson({ request });
    else out(`${formatRequest(request)}\nqueued: a worker running the erasure queue finishes it (or re-run with --wait)`);
    return EXIT.ok;
  }
  const worker = await flow.startWorker();
  let result: { request: ErasureRequestRecord; remaining: ErasureRemainder[] };
  try {
    await flow.reconcile();
    const done = await flow.waitFor(request.id, { timeoutMs: options.timeoutSeconds * 1000, intervalMs: 200 });
    result = { request: done, remaining: await verify() };
  } finally {
    await worker.close();
  }
  if (options.json) printJson(result);
  else {
    out(formatRequest(result.request));
    out(
      result.remaining.length === 0
        ? 'verified: nothing remains in any store'
        : `REMAINING: ${result.remaining.map((r) => `${r.store}/${r.kind}=${r.count}`).join(', ')}`,
    );
  }
  return result.remaining.length === 0 ? EXIT.ok : EXIT.failed;
}
