import type { DatabaseTransactionConnection } from 'slonik';

/**
 * An open PostgreSQL transaction, as the repositories' `…Within(tx, …)` and
 * `…With(…, within)` methods take it. Flows that make several repositories'
 * writes one transaction pass it from one repository to the next under this
 * name, without importing the driver (docs/architecture.md, rule 10).
 */
export type PostgresTransaction = DatabaseTransactionConnection;
