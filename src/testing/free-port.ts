import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when `port` on 127.0.0.1 can be bound right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first free port in `[first, last]` (private port ranges: several runs on one machine each keep to their own).
 * @throws Error when every port of the range is taken
 */
export async function freePortIn([first, last]: readonly [number, number]): Promise<number> {
  for (let p = first; p <= last; p++) if (await portIsFree(p)) return p;
  throw new Error(`no free port in ${first}-${last}`);
}
