/**
 * Loads an optional peer dependency of `platform-data/testing` (testcontainers
 * and its modules), turning "module not found" into a message that names the
 * package and the command that installs it.
 * @throws Error naming the package when it is not installed; other load errors unchanged
 */
export async function importOptionalPeer<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(name)) {
      throw new Error(`${name} is not installed: it is an optional peer of platform-data/testing (npm install --save-dev ${name})`, { cause: error });
    }
    throw error;
  }
}
