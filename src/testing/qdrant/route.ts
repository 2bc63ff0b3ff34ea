import type { CollectionStore } from './collection-store.js';
import type { JsonValue } from './json-codec.js';

/** What a route handler gets for one request. */
export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly store: CollectionStore;
  /** The parsed JSON body. @throws {QdrantError} 400 when absent or not JSON. */
  body(): JsonValue;
}

/** A response sent as-is, outside Qdrant's `{result, status, time}` envelope. */
export class RawResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;

  constructor(status: number, contentType: string, body: string) {
    this.status = status;
    this.contentType = contentType;
    this.body = body;
  }
}

/** One endpoint: a method, a path pattern with `{param}` segments and a handler returning `result`. */
export interface Route {
  readonly method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly handle: (context: RouteContext) => unknown;
}

/** Qdrant's answer to a write: `completed` with `?wait=true`, else `acknowledged`. */
export function operationResult(operationId: number, context: RouteContext): { operation_id: number; status: string } {
  return { operation_id: operationId, status: context.query.get('wait') === 'true' ? 'completed' : 'acknowledged' };
}
