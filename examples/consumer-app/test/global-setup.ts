import { startTestStack, type TestStackInfo } from 'platform-data/testing';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    platformStack: TestStackInfo;
  }
}

/** Once per run: the stores (from DATABASE_URL/REDIS_URL/…, else local ones), and a template database with the package's and this app's migrations. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stack = await startTestStack({ stores: ['postgres', 'redis'], migrations: { directory: 'migrations' } });
  project.provide('platformStack', stack.info);
  return () => stack.stop();
}
