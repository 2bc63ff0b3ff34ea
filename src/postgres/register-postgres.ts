import type { DependencyContainer } from 'tsyringe';
import { PostgresConnection } from './postgres-connection.js';

/** Registers the PostgreSQL connection and repositories in `container`. */
export function registerPostgres(container: DependencyContainer): void {
  container.registerSingleton(PostgresConnection);
}
