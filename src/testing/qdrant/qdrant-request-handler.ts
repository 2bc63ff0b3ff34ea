import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { batchUpdateRoute } from './batch-update-route.js';
import { collectionRoutes } from './collection-routes.js';
import type { CollectionStore } from './collection-store.js';
import { parseJsonBody, stringifyJson, type JsonValue } from './json-codec.js';
import { pointRoutes } from './point-routes.js';
import { QdrantError } from './qdrant-error.js';
import { queryRoutes } from './query-routes.js';
import { RawResponse, type Route, type RouteContext } from './route.js';
import { unsupportedRoutes } from './unsupported-routes.js';

export interface QdrantRequestHandlerOptions {
  readonly store: CollectionStore;
  /** When set, every request except the health and version probes must carry it. */
  readonly apiKey?: string;
  /** Reported by `GET /`; the client warns when its major/minor differ. */
  readonly version: string;
}

// Qdrant's default `service.max_request_size_mb`.
const MAX_BODY_BYTES = 32 * 1024 * 1024;
// Paths Qdrant serves without authentication.
const UNAUTHENTICATED = new Set(['/', '/healthz', '/livez', '/readyz']);

interface CompiledRoute {
  readonly route: Route;
  readonly segments: readonly string[];
  readonly literals: number;
}

function compile(routes: readonly Route[]): CompiledRoute[] {
  return routes
    .map((route) => {
      const segments = route.path.split('/').filter((s) => s !== '');
      return { route, segments, literals: segments.filter((s) => !s.startsWith('{')).length };
    })
    .sort((a, b) => b.literals - a.literals);
}

function serviceRoutes(version: string): Route[] {
  const text = (body: string): RawResponse => new RawResponse(200, 'text/plain; charset=utf-8', body);
  return [
    {
      method: 'GET',
      path: '/',
      handle: () =>
        new RawResponse(
          200,
          'application/json',
          stringifyJson({ title: 'qdrant - vector search engine', version, commit: '0000000000000000000000000000000000000000' }),
        ),
    },
    { method: 'GET', path: '/healthz', handle: () => text('healthz check passed') },
    { method: 'GET', path: '/livez', handle: () => text('healthz check passed') },
    { method: 'GET', path: '/readyz', handle: () => text('all shards are ready') },
  ];
}

function findRoute(routes: readonly CompiledRoute[], method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
  let parts: string[];
  try {
    parts = path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  for (const { route, segments } of routes) {
    if (route.method !== method || segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let matched = true;
    for (let i = 0; i < segments.length; i += 1) {
      const segment = segments[i] ?? '';
      const part = parts[i] ?? '';
      if (segment.startsWith('{')) params[segment.slice(1, -1)] = part;
      else if (segment !== part) {
        matched = false;
        break;
      }
    }
    if (matched) return { route, params };
  }
  return undefined;
}

function keyMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new QdrantError(413, 'Format error in JSON body: Json payload size is bigger than allowed');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Builds the node:http request listener that answers like Qdrant's REST API:
 * `{result, status: "ok", time}` on success, `{status: {error}, time}` with
 * Qdrant's status code and text on failure, 401 plain text without a valid key.
 */
export function createQdrantRequestHandler(options: QdrantRequestHandlerOptions): (request: IncomingMessage, response: ServerResponse) => void {
  const routes = compile([...serviceRoutes(options.version), ...collectionRoutes, ...pointRoutes, batchUpdateRoute, ...queryRoutes, ...unsupportedRoutes]);

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = performance.now();
    const elapsed = (): number => (performance.now() - started) / 1000;
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const send = (status: number, contentType: string, body: string): void => {
      response.writeHead(status, { 'content-type': contentType });
      response.end(body);
    };

    if (options.apiKey !== undefined && !UNAUTHENTICATED.has(url.pathname)) {
      const header = request.headers['api-key'];
      const bearer = request.headers.authorization?.startsWith('Bearer ') ? request.headers.authorization.slice('Bearer '.length) : undefined;
      const given = (Array.isArray(header) ? header[0] : header) ?? bearer;
      if (given === undefined) return send(401, 'text/plain; charset=utf-8', 'Must provide an API key or an Authorization bearer token');
      if (!keyMatches(options.apiKey, given)) return send(401, 'text/plain; charset=utf-8', 'Invalid API key or JWT');
    }

    try {
      const text = await readBody(request);
      const found = findRoute(routes, request.method ?? 'GET', url.pathname);
      // actix answers unknown paths with an empty 404.
      if (found === undefined) return send(404, 'text/plain; charset=utf-8', '');
      let parsed: JsonValue | undefined;
      const context: RouteContext = {
        params: found.params,
        query: url.searchParams,
        store: options.store,
        body: () => (parsed ??= parseJsonBody(text)),
      };
      const result = found.route.handle(context);
      if (result instanceof RawResponse) return send(result.status, result.contentType, result.body);
      send(200, 'application/json', stringifyJson({ result, status: 'ok', time: elapsed() }));
    } catch (error) {
      const status = error instanceof QdrantError ? error.status : 500;
      const message = error instanceof QdrantError ? error.message : `Service internal error: ${error instanceof Error ? error.message : String(error)}`;
      send(status, 'application/json', stringifyJson({ status: { error: message }, time: elapsed() }));
    }
  };

  return (request, response) => {
    void handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(String(error));
    });
  };
}
