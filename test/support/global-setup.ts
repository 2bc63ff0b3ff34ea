import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startLocalStack, type LocalStackOptions } from '../../src/testing/start-local-stack.js';
import type { StoreName } from '../../src/errors.js';
import type { StackBackend } from '../../src/testing/start-local-stack.js';
import { dropTestDatabases, prepareTemplateDatabase } from './postgres-template.js';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: {
      urls: Record<StoreName, string | undefined>;
      backends: Record<StoreName, StackBackend>;
      /** A database already migrated, to clone per test file (undefined until migrations exist). */
      postgresTemplate: string | undefined;
    };
  }
}

/** Starts the stores once for the whole run; test files get isolated resources from test/support/test-env.ts. */
export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return setupStack(project);
}

/** The shared body of the global setups: build dist/, start the stack, migrate a template database, provide it. */
export async function setupStack(project: TestProject, options: LocalStackOptions = {}): Promise<() => Promise<void>> {
  // The CLI tests run the built bin; the native tsc build takes about a second.
  // tsc emits even when it reports type errors, so a type error fails `npm run typecheck`/`prepare`, not every test.
  try {
    execFileSync(fileURLToPath(new URL('../../node_modules/.bin/tsc', import.meta.url)), ['-p', 'tsconfig.build.json'], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      stdio: 'pipe',
    });
  } catch (error) {
    process.stderr.write(`[setup] tsc reported errors (dist/ was still emitted):\n${String((error as { stdout?: Buffer }).stdout ?? '')}\n`);
  }
  const stack = await startLocalStack(options);
  const admin = stack.urls.postgres;
  const postgresTemplate = admin ? await prepareTemplateDatabase(admin) : undefined;
  project.provide('stack', { urls: { ...stack.urls }, backends: { ...stack.backends }, postgresTemplate });
  return async () => {
    if (admin) await dropTestDatabases(admin).catch(() => undefined);
    await stack.stop();
  };
}
