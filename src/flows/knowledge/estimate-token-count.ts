/**
 * A rough token count (about 4 characters per token for English with BPE
 * tokenizers), for the counters on messages and chunks when the embedder or
 * model does not report real counts. Not for billing.
 */
export function estimateTokenCount(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}
