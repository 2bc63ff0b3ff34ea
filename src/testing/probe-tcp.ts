import { connect } from 'node:net';

/**
 * Opens a TCP connection to host:port, optionally writes `send`, and resolves
 * with the first bytes received (or '' when nothing is sent). Rejects on
 * refusal or after `timeoutMs`.
 */
export function probeTcp(host: string, port: number, options: { send?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${options.timeoutMs ?? 1000} ms`));
    }, options.timeoutMs ?? 1000);
    const done = (error: Error | undefined, data = '') => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(data);
    };
    socket.once('error', (error) => done(error));
    socket.once('connect', () => {
      if (options.send === undefined) done(undefined);
      else socket.write(options.send);
    });
    socket.once('data', (data) => done(undefined, data.toString('utf8')));
  });
}
