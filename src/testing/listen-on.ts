import type { AddressInfo, Server } from 'node:net';

/**
 * Starts `server` listening on `host:port` (port 0: any free one) and returns the port it got.
 * @throws the listen error (e.g. EADDRINUSE when the port is taken)
 */
export async function listenOn(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
