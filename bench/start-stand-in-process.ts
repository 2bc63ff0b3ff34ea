import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** The stand-ins of bench/stand-in-process.ts, running in a child process. */
export interface StandInProcess extends AsyncDisposable {
  readonly mongoUrl: string;
  readonly qdrantUrl: string;
}

/**
 * Starts bench/stand-in-process.js next to this file with the running Node.
 * @throws Error when it does not print its URLs within `timeoutMs`
 */
export async function startStandInProcess(timeoutMs = 20_000): Promise<StandInProcess> {
  const child = spawn(process.execPath, [new URL('./stand-in-process.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [undefined])])) as [string | undefined];
    clearTimeout(timer);
    if (line === undefined) throw new Error('bench: the stand-in process ended before printing its URLs');
    const urls = JSON.parse(line) as { mongo: string; qdrant: string };
    return { mongoUrl: urls.mongo, qdrantUrl: urls.qdrant, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
