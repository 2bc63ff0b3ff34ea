import { isJsonObject, type JsonValue } from './json-codec.js';
import { pointRoutes } from './point-routes.js';
import { QdrantError } from './qdrant-error.js';
import { requireObject } from './request-reader.js';
import type { Route, RouteContext } from './route.js';

/** Each batch operation is the body of one point endpoint (Qdrant's `UpdateOperations` enum). */
const OPERATIONS: Readonly<Record<string, { method: Route['method']; path: string }>> = {
  upsert: { method: 'PUT', path: '/collections/{collection}/points' },
  delete: { method: 'POST', path: '/collections/{collection}/points/delete' },
  set_payload: { method: 'POST', path: '/collections/{collection}/points/payload' },
  overwrite_payload: { method: 'PUT', path: '/collections/{collection}/points/payload' },
  delete_payload: { method: 'POST', path: '/collections/{collection}/points/payload/delete' },
  clear_payload: { method: 'POST', path: '/collections/{collection}/points/payload/clear' },
  update_vectors: { method: 'PUT', path: '/collections/{collection}/points/vectors' },
  delete_vectors: { method: 'POST', path: '/collections/{collection}/points/vectors/delete' },
};

/**
 * `POST /collections/{c}/points/batch` (the client's `batchUpdate`): the
 * operations run in order, each exactly as its own endpoint would run it;
 * the result lists one `{operation_id, status}` per operation. Like Qdrant,
 * a failing operation stops the batch and earlier ones stay applied.
 */
export const batchUpdateRoute: Route = {
  method: 'POST',
  path: '/collections/{collection}/points/batch',
  handle: (context) => {
    const request = requireObject(context.body(), 'UpdateOperations');
    const operations = request['operations'];
    if (!Array.isArray(operations)) throw QdrantError.format('missing field `operations`');
    context.store.get(context.params['collection'] ?? '');
    return operations.map((raw, index) => {
      const operation = requireObject(raw, `operations[${index}]`);
      const [name, body] = Object.entries(operation)[0] ?? [];
      const target = name === undefined ? undefined : OPERATIONS[name];
      if (target === undefined || body === undefined) {
        throw QdrantError.format(
          `operations[${index}]: unknown variant \`${name ?? ''}\`, expected one of ${Object.keys(OPERATIONS)
            .map((o) => `\`${o}\``)
            .join(', ')}`,
        );
      }
      const route = pointRoutes.find((r) => r.method === target.method && r.path === target.path);
      if (route === undefined) throw new Error(`batch operation ${name} has no point route`);
      const inner: RouteContext = { ...context, body: () => unwrap(name ?? '', body) };
      return route.handle(inner);
    });
  },
};

/** `clear_payload` carries its selector under `points`, like the endpoint's body. */
function unwrap(name: string, body: JsonValue): JsonValue {
  if (name === 'clear_payload' && isJsonObject(body) && !('points' in body) && !('filter' in body)) return { points: body };
  return body;
}
