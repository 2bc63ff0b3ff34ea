/**
 * Stop hooks of services created inside a platform (batching writers, queue
 * workers …). They run in reverse order of registration when the platform
 * stops, before the store connections close, so buffered work reaches the stores.
 */
export class Lifecycle {
  readonly #hooks: Array<{ name: string; stop: () => Promise<void> }> = [];

  onStop(name: string, stop: () => Promise<void>): void {
    this.#hooks.push({ name, stop });
  }

  /** Runs every hook once (even if one fails) and returns the failures. */
  async runStopHooks(): Promise<Array<{ name: string; error: unknown }>> {
    const failures: Array<{ name: string; error: unknown }> = [];
    for (const hook of this.#hooks.splice(0).reverse()) {
      try {
        await hook.stop();
      } catch (error) {
        failures.push({ name: hook.name, error });
      }
    }
    return failures;
  }
}
