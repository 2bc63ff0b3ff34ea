import { loadConfig } from '../../config.js';
import { createLogger } from '../../logger.js';
import { createPlatform, type Platform } from '../../platform.js';

/** Starts a platform on the environment's stores (all four: export and erasure span them). */
export async function startCliPlatform(): Promise<Platform> {
  const platform = createPlatform(loadConfig(process.env), { logger: createLogger('silent') });
  try {
    await platform.start();
  } catch (error) {
    await platform.stop();
    throw error;
  }
  return platform;
}
