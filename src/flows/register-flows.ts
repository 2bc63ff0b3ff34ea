import type { DependencyContainer } from 'tsyringe';

/** Registers the cross-store flows in `container`. */
export function registerFlows(container: DependencyContainer): void {
  void container;
}
