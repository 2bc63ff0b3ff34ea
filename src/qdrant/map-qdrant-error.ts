import { ConflictError, NotFoundError, PlatformError, StoreUnavailableError, ValidationError } from '../errors.js';

interface ApiLikeError {
  name?: unknown;
  status?: unknown;
  message?: unknown;
  data?: unknown;
  cause?: unknown;
}

/** Qdrant's own error text (`status.error` of the envelope), if any. */
function qdrantText(e: ApiLikeError): string | undefined {
  const data = e.data as { status?: { error?: unknown } } | undefined;
  return typeof data?.status?.error === 'string' ? data.status.error : undefined;
}

/**
 * Maps @qdrant/js-client-rest errors: HTTP 404 → NotFoundError, 409 →
 * ConflictError, 400/422 → ValidationError, 401/403, 5xx and network
 * failures (fetch errors, timeouts) → StoreUnavailableError.
 */
export function mapQdrantError(error: unknown, url?: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const e = (error ?? {}) as ApiLikeError;
  const status = typeof e.status === 'number' ? e.status : undefined;
  const text = qdrantText(e) ?? (typeof e.message === 'string' ? e.message : String(error));
  if (status === 404) return new NotFoundError('qdrant resource', undefined, { cause: error });
  if (status === 409) return new ConflictError(text, { store: 'qdrant', cause: error });
  if (status === 400 || status === 422) return new ValidationError([{ path: '', message: text, code: String(status) }], { cause: error });
  if (status === 401 || status === 403) return new StoreUnavailableError('qdrant', `authentication failed (HTTP ${status})`, { url, cause: error });
  if ((status !== undefined && status >= 500) || status === undefined) {
    const causeCode = (e.cause as { code?: unknown } | undefined)?.code;
    if (
      status !== undefined ||
      e.name === 'TypeError' ||
      e.name === 'AbortError' ||
      e.name === 'TimeoutError' ||
      typeof causeCode === 'string' ||
      /fetch failed|timeout|ECONNREFUSED/i.test(text)
    ) {
      return new StoreUnavailableError('qdrant', status ? `HTTP ${status}` : (text.split('\n')[0]?.slice(0, 200) ?? 'unavailable'), { url, cause: error });
    }
  }
  return new PlatformError('QDRANT_ERROR', text.slice(0, 500), { cause: error });
}

/** Runs one Qdrant operation, mapping whatever it throws through {@link mapQdrantError}. The one wrapper of this folder; every store has its `with<Store>Errors`. */
export async function withQdrantErrors<T>(work: () => Promise<T>, url?: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapQdrantError(error, url);
  }
}
