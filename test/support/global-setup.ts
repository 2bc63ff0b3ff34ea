import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startTestStack, type TestStackInfo, type TestStackOptions } from '../../src/testing/start-test-stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's stores and migrated template database, as an application's suite gets them (docs/testing-applications.md). */
    stack: TestStackInfo;
  }
}

/** Starts the stores once for the whole run; test files get isolated resources from test/support/test-env.ts. */
export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return setupStack(project);
}

/** The shared body of the global setups: build dist/, start the stack, migrate a template database, provide it. */
export async function setupStack(project: TestProject, options: TestStackOptions = {}, build = true): Promise<() => Promise<void>> {
  // The CLI tests run the built bin; the native tsc build takes about a second.
  // tsc emits even when it reports type errors, so a type error fails `npm run typecheck`/`prepare`, not every test.
  // Projects without CLI tests pass build = false (the main project's setup builds it anyway).
  if (build)
    try {
      execFileSync(fileURLToPath(new URL('../../node_modules/.bin/tsc', import.meta.url)), ['-p', 'tsconfig.build.json'], {
        cwd: fileURLToPath(new URL('../../', import.meta.url)),
        stdio: 'pipe',
      });
    } catch (error) {
      process.stderr.write(`[setup] tsc reported errors (dist/ was still emitted):\n${String((error as { stdout?: Buffer }).stdout ?? '')}\n`);
    }
  const stack = await startTestStack(options);
  project.provide('stack', stack.info);
  return () => stack.stop();
}
