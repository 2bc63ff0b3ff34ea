import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Platform } from './platform.js';

/**
 * A plain Node http handler for readiness probes: 200 when every store is up,
 * 503 otherwise, with the per-store health as JSON (URLs redacted, no secrets).
 *
 * @example
 * http.createServer(createHealthHandler(platform)).listen(8080);
 */
export function createHealthHandler(platform: Platform): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    platform.health().then(
      (health) => {
        res.writeHead(health.status === 'up' ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(health));
      },
      () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'down' }));
      },
    );
  };
}
