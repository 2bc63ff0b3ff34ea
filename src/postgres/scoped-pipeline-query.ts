import pg from 'pg';
import type { PostgresScope } from './with-scope.js';

/** The part of `pg`'s connection a submittable uses (the same calls pg's own Query and pg-cursor make). */
interface WireConnection {
  readonly stream: { cork?: () => void; uncork?: () => void };
  readonly parsedStatements: Record<string, string | undefined>;
  readonly submittedNamedStatements: Record<string, string | undefined>;
  parse(query: { name?: string; text: string; types?: unknown[] }): void;
  bind(config: { statement?: string; values: unknown[] }): void;
  execute(config: { portal?: string; rows?: number }): void;
  sync(): void;
}

type Callback = (error: Error | null, result?: pg.QueryResult) => void;

/** pg's Query as a submittable (the methods pg's Client calls on it; not in @types/pg). */
interface PgQuery {
  submit(connection: WireConnection): Error | null;
  handleRowDescription(message: unknown): void;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: WireConnection): void;
  handleReadyForQuery(connection: WireConnection): void;
}
const PgQueryClass = pg.Query as unknown as new (
  config: { name?: string; text: string; values: unknown[]; types: pg.CustomTypesConfig; queryMode?: 'extended' },
  values: undefined,
  callback: Callback,
) => PgQuery;

/** Sets the scope for the current transaction only (is_local = true): the settings withTenant()/withScope() make ('' = unset). */
export const SCOPE_SETTINGS_STATEMENT = {
  name: 'pd_scope_settings',
  text: `SELECT set_config('platform.organization_id', $1, true), set_config('platform.user_id', $2, true), set_config('platform.admin_actor', $3, true)`,
} as const;

/**
 * A `pg` submittable that runs a named prepared statement with the tenant (or
 * another scope) set, in ONE round trip and one transaction:
 *
 *   Parse/Bind/Execute `set_config(…, true)` · Parse (first time) / Bind /
 *   Describe / Execute the read · Sync
 *
 * The PostgreSQL manual (protocol, "Extended Query" and "Pipelining"): the
 * messages up to a Sync run as one implicit transaction unless BEGIN was sent,
 * Sync commits it (or rolls it back after an error), and after an error the
 * server skips every message until the Sync. So the transaction-local settings
 * are visible to the read, end at the Sync (a pooled connection never keeps
 * them), and if setting them fails the read is never executed. It is what
 * withTenant() does with BEGIN / set_config / read / COMMIT, minus three round
 * trips; the read's plan is cached per connection (named statement), and
 * row-level security stays the boundary.
 *
 * The messages are written with the calls `pg`'s own Query uses (pg-cursor
 * and pg-query-stream do the same); the read's responses are handed to a real
 * `pg.Query`, so rows are parsed by the client's type parsers as usual.
 */
export class ScopedPipelineQuery {
  /** Set by `client.query(submittable, callback)`. */
  callback: Callback | undefined;
  readonly #inner: PgQuery;
  readonly #name: string;
  readonly #unnamed: boolean;
  readonly #text: string;
  readonly #settings: readonly [string, string, string];
  #settingsDone = false;
  #error: Error | undefined;
  #result: pg.QueryResult | undefined;
  #connection: WireConnection | undefined;

  /**
   * @param types the pool's type parsers: pg's Client hands its own only to its own Query objects, so a
   *   submittable must bring them (else int8 and timestamptz come back as pg's defaults).
   * @param unnamed behind a transaction-pooling PgBouncer (PG_POOLER=transaction): both statements are
   *   sent unnamed and parsed every time — the next pipeline may run on another server connection, which
   *   never saw a named Parse. The pipeline itself ends in one Sync, i.e. one transaction, which the pooler
   *   keeps on one server connection.
   */
  constructor(scope: PostgresScope, statement: { name: string; text: string }, values: unknown[], types: pg.CustomTypesConfig, unnamed = false) {
    this.#settings = [scope.organizationId ?? '', scope.userId ?? '', scope.adminActor ?? ''];
    this.#unnamed = unnamed;
    this.#name = unnamed ? '' : statement.name;
    this.#text = statement.text;
    const config = unnamed
      ? { text: statement.text, values, types, queryMode: 'extended' as const }
      : { name: statement.name, text: statement.text, values, types };
    this.#inner = new PgQueryClass(config, undefined, (error, result) => {
      if (error) this.#error = error;
      else this.#result = result;
    });
  }

  /** @returns an error, before anything is written, when this connection knows the name with another text (as pg's Query does) */
  submit(connection: WireConnection): Error | null {
    this.#connection = connection;
    const previous = this.#unnamed ? undefined : (connection.parsedStatements[this.#name] ?? connection.submittedNamedStatements[this.#name]);
    if (previous !== undefined && previous !== this.#text)
      return new Error(`Prepared statements must be unique - '${this.#name}' was used for a different statement`);
    const { text } = SCOPE_SETTINGS_STATEMENT;
    const name = this.#unnamed ? '' : SCOPE_SETTINGS_STATEMENT.name;
    connection.stream.cork?.();
    try {
      if (this.#unnamed) {
        connection.parse({ name, text, types: [] });
      } else if (connection.parsedStatements[name] === undefined) {
        connection.parse({ name, text, types: [] });
        connection.submittedNamedStatements[name] = text;
      }
      connection.bind({ statement: name, values: [...this.#settings] });
      connection.execute({});
      // Parse (if this connection has not seen it), Bind, Describe, Execute and the Sync that ends the transaction.
      const refused = this.#inner.submit(connection);
      if (refused) {
        // Not reachable after the check above; still, never leave the settings' transaction open without its Sync.
        this.#error = refused;
        connection.sync();
      }
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(message: unknown): void {
    // Only the read is described (the settings statement's row is never parsed).
    this.#inner.handleRowDescription(message);
  }

  handleDataRow(message: unknown): void {
    if (this.#settingsDone) this.#inner.handleDataRow(message);
  }

  handleCommandComplete(message: unknown, connection: WireConnection): void {
    if (!this.#settingsDone) {
      this.#settingsDone = true;
      return;
    }
    this.#inner.handleCommandComplete(message, connection);
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: { sendCopyFail(message: string): void }): void {
    connection.sendCopyFail('No source stream defined');
  }

  handleCopyData(): void {}

  /**
   * An error from the server (the rest was skipped up to Sync, and the
   * transaction rolled back) or from the client (read timeout). Which named
   * statements the server parsed before the error is unknown here, so the
   * caller must not reuse this connection (pg.Pool's query() discards a
   * client whose query failed).
   */
  handleError(error: Error): void {
    this.#forgetSubmitted();
    const callback = this.callback;
    this.callback = undefined;
    callback?.(error);
  }

  handleReadyForQuery(connection: WireConnection): void {
    this.#inner.handleReadyForQuery(connection);
    const callback = this.callback;
    this.callback = undefined;
    if (this.#error !== undefined) {
      this.#forgetSubmitted();
      callback?.(this.#error);
      return;
    }
    // Both statements are now parsed on this connection (pg records this itself only for the query object's own name).
    for (const statement of [SCOPE_SETTINGS_STATEMENT.name, this.#name]) {
      const text = connection.submittedNamedStatements[statement];
      if (text !== undefined) {
        connection.parsedStatements[statement] = text;
        delete connection.submittedNamedStatements[statement];
      }
    }
    callback?.(null, this.#result);
  }

  #forgetSubmitted(): void {
    const connection = this.#connection;
    if (!connection) return;
    delete connection.submittedNamedStatements[SCOPE_SETTINGS_STATEMENT.name];
    delete connection.submittedNamedStatements[this.#name];
  }
}
