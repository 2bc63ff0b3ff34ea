import pg from 'pg';
import { inject, injectable } from 'tsyringe';
import { createPool, sql, type DatabasePool, type Interceptor } from 'slonik';
import { z } from 'zod';
import { ownerDatabaseUrl, type Config } from '../config.js';
import { PlatformError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact-url.js';
import { storeUnavailable, type StoreConnection, type StoreHealth, type StoreNodeHealth } from '../store-connection.js';
import { CONFIG, LOGGER } from '../tokens.js';
import { withTimeout } from '../with-timeout.js';
import { boundPool } from './bound-pool.js';
import { boundedQuery, type BoundedQuery } from './bounded-query.js';
import { idleValidatingDriverFactory } from './idle-validating-driver-factory.js';
import { IdleValidatingPgPool } from './idle-validating-pg-pool.js';
import { mapPostgresError } from './map-postgres-error.js';
import { pgTypeOverrides } from './pg-type-overrides.js';
import { postgresTypeParsers } from './postgres-type-parsers.js';
import { parseStatementRow, type PreparedStatement } from './prepared-statement.js';
import { createResultParserInterceptor } from './result-parser-interceptor.js';
import { ScopedPipelineQuery } from './scoped-pipeline-query.js';
import type { PostgresScope } from './with-scope.js';
import type { TenantContext } from '../tenancy/tenant-context.js';

/**
 * PgBouncer 1.18 in transaction mode has no named prepared statements (support came in 1.21): a
 * `sql.prepared(…)` name would be parsed on one server connection and bound on another
 * ("prepared statement … does not exist"). Dropping the name sends the same text unnamed.
 */
const unnamedStatementsInterceptor: Interceptor = {
  name: 'platform-data/unnamed-statements',
  transformQuery: (_context, query) => (query.name === undefined ? query : { ...query, name: undefined }),
};

/**
 * PostgreSQL through Slonik. Two pools: `appPool` (the application role: no
 * BYPASSRLS, owns no table — what every repository uses) and, only when
 * `DATABASE_URL` is configured, `ownerPool` (the migrating owner role, for
 * migrations, provisioning and audit-partition DDL).
 *
 * Plus a small raw `pg` pool, also as the application role, behind
 * {@link preparedOne}: the hot path for the few pre-tenant auth reads that run
 * on every sign-in or cache miss (docs/architecture.md, "Hot paths"); they
 * call the narrow `platform_auth` functions (docs/security.md, "Least privilege at run time").
 */
@injectable()
export class PostgresConnection implements StoreConnection {
  readonly store = 'postgres' as const;
  #owner: DatabasePool | undefined;
  #app: DatabasePool | undefined;
  #hot: { readonly pool: pg.Pool; readonly query: BoundedQuery } | undefined;
  #replica: DatabasePool | undefined;
  #started = false;
  #stopped = false;

  constructor(
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  get redactedUrl(): string {
    return redactUrl(this.config.postgres.url ?? this.config.postgres.appUrl);
  }

  /**
   * The owner pool (migrations, provisioning, audit-partition DDL).
   * @throws PlatformError when not started; ConfigError naming `DATABASE_URL` when no owner URL is configured
   */
  get ownerPool(): DatabasePool {
    ownerDatabaseUrl(this.config, 'owner work (migrations, provisioning, audit partitions)');
    if (!this.#owner) throw new PlatformError('NOT_STARTED', 'PostgresConnection is not started');
    return this.#owner;
  }

  /**
   * The application-role pool (row-level security applies).
   * @throws PlatformError `NOT_STARTED`, or `APP_ROLE_MISSING` when the application role could not log in at start (run migrations, then `connectAppPool()`)
   */
  get appPool(): DatabasePool {
    if (!this.#started) throw new PlatformError('NOT_STARTED', 'PostgresConnection is not started');
    if (!this.#app) {
      throw new PlatformError(
        'APP_ROLE_MISSING',
        'The application role cannot log in yet: run `platform-data db migrate` (or bootstrap), then connectAppPool()',
      );
    }
    return this.#app;
  }

  /**
   * Connects the application-role pool if it is not connected yet. Slonik's
   * createPool opens a connection (to look up type OIDs), so before the first
   * migration has created the role this fails; `start()` tolerates that.
   * @throws StoreUnavailableError when the role exists but the server is unreachable
   */
  async connectAppPool(): Promise<DatabasePool> {
    if (this.#app) return this.#app;
    if (!this.#started) throw new PlatformError('NOT_STARTED', 'PostgresConnection is not started');
    try {
      this.#app = await this.#createPool(this.config.postgres.appUrl, this.config.postgres.poolSize);
    } catch (error) {
      const mapped = this.#unavailable(error);
      throw /role .* does not exist|password authentication failed/.test(mapped.message)
        ? new PlatformError('APP_ROLE_MISSING', 'The application role cannot log in: run `platform-data db migrate` first', { cause: error })
        : mapped;
    }
    return this.#app;
  }

  /** True when `url` goes through a transaction-pooling PgBouncer (`PG_POOLER=transaction` applies to the application role's URL only). */
  #pooled(url: string): boolean {
    return this.config.postgres.pooler === 'transaction' && url === this.config.postgres.appUrl;
  }

  async #createPool(url: string, maxPoolSize: number): Promise<DatabasePool> {
    const pooled = this.#pooled(url);
    const { maxLifetimeSeconds, idleValidationAfterMs } = this.config.postgres;
    const driverFactory =
      idleValidationAfterMs === undefined
        ? undefined
        : idleValidatingDriverFactory({ afterMs: idleValidationAfterMs, timeoutMs: this.config.connectTimeoutMs, url: redactUrl(url) });
    const pool = await createPool(url, {
      maxPoolSize,
      // No warm-up: the application role may not exist until the first migration has run.
      minPoolSize: 0,
      // Slonik's default reset is `DISCARD ALL` on every release: a second round trip per query, and it
      // drops named prepared statements. Nothing here leaves session state behind — tenant settings are
      // transaction-local (`set_config(…, true)` in withTenant) and timeouts are connection options —
      // so connections go back to the pool as they are (see the tenancy test on pooled connections).
      resetConnection: async () => undefined,
      connectionTimeout: this.config.connectTimeoutMs,
      connectionRetryLimit: 0,
      // Behind PgBouncer 1.18 a `statement_timeout` startup parameter is refused or dropped: the server-side
      // timeout then comes from the role (`ALTER ROLE … SET statement_timeout`, docs/scaling.md); PG_QUERY_TIMEOUT_MS still bounds the client.
      statementTimeout: pooled ? 'DISABLE_TIMEOUT' : this.config.postgres.statementTimeoutMs,
      ...(pooled ? { idleInTransactionSessionTimeout: 'DISABLE_TIMEOUT' as const } : {}),
      idleTimeout: 10_000,
      maximumConnectionAge: maxLifetimeSeconds === 0 ? 'DISABLE_TIMEOUT' : maxLifetimeSeconds * 1000,
      captureStackTrace: false,
      interceptors: pooled ? [unnamedStatementsInterceptor, createResultParserInterceptor()] : [createResultParserInterceptor()],
      ...(driverFactory ? { driverFactory } : {}),
      typeParsers: postgresTypeParsers,
    });
    // Every idle connection may have died at once (a server restart): one more attempt than the pool has connections.
    return boundPool(pool, this.config.postgres.queryTimeoutMs, () => this.#noAnswer(), maxPoolSize + 1);
  }

  /**
   * Runs a read that tolerates replication lag on the streaming standby
   * (`DATABASE_REPLICA_URL`), or on the primary when no standby is configured,
   * it could not be connected, or it fails as unavailable (then the read is
   * repeated on the primary, so a lost standby costs latency, not answers).
   * Which reads go here is a short, named list (docs/scaling.md): today
   * `AuditRepository.query`, whose events reach PostgreSQL through the batching
   * AuditWriter and so are never read-your-writes anyway.
   *
   * @throws what `read` throws on the primary (mapPostgresError's classes)
   */
  async readLagTolerant<T>(read: (pool: DatabasePool) => Promise<T>): Promise<T> {
    const replica = this.#replica;
    if (replica) {
      try {
        return await read(replica);
      } catch (error) {
        if (!(mapPostgresError(error) instanceof StoreUnavailableError)) throw error;
        this.logger.warn('postgres standby unavailable; reading from the primary', { error: mapPostgresError(error).message });
      }
    }
    return read(this.appPool);
  }

  /** A call the server did not answer within `PG_QUERY_TIMEOUT_MS` (a frozen server or network keeps the connection open and silent). */
  #noAnswer(): StoreUnavailableError {
    return new StoreUnavailableError('postgres', `no answer within ${this.config.postgres.queryTimeoutMs} ms (PG_QUERY_TIMEOUT_MS)`, { url: this.redactedUrl });
  }

  /**
   * Runs a named prepared statement on the hot-path pool and validates the row
   * with the statement's schema. Same role, timeouts, type parsers
   * (timestamptz → Date, int8 → number) and error mapping as the application pool;
   * what it skips is Slonik's per-query machinery (query context, interceptor
   * loops, its own pool wrapper) and re-planning an unnamed statement per call.
   *
   * @returns the parsed row, or `undefined` when there is none
   * @throws PlatformError `NOT_STARTED`; `RESULT_INVALID` when the row does not match the schema; `POSTGRES_ERROR` for more than one row
   * @throws errors of mapPostgresError (StoreUnavailableError, STATEMENT_TIMEOUT, …)
   */
  async preparedOne<S extends z.ZodType>(statement: PreparedStatement<S>, values: unknown[]): Promise<z.output<S> | undefined> {
    const hot = this.#hot;
    if (!hot) throw new PlatformError('NOT_STARTED', 'PostgresConnection is not started');
    let rows: unknown[];
    try {
      // Behind a transaction pooler the next call may land on a server connection that never saw the Parse: unnamed.
      const named = this.config.postgres.pooler !== 'transaction';
      rows = (await hot.query(named ? { name: statement.name, text: statement.text, values } : { text: statement.text, values })).rows;
    } catch (error) {
      throw mapPostgresError(error, this.redactedUrl);
    }
    if (rows.length === 0) return undefined;
    if (rows.length > 1) throw new PlatformError('POSTGRES_ERROR', `${statement.name} returned ${rows.length} rows, expected at most one`);
    return parseStatementRow(statement, rows[0]);
  }

  /**
   * Runs a named prepared read with the tenant set, in one round trip: the
   * tenant settings and the read travel as one pipeline ending in one Sync,
   * which PostgreSQL runs as one implicit transaction (src/postgres/scoped-pipeline-query.ts).
   * Same guarantee as {@link withTenant}: row-level security on the application
   * role confines the read to `ctx`, and the settings end with the transaction.
   * Every row is validated with the statement's schema.
   *
   * For hot single-statement reads; anything that writes, or needs more than one
   * statement, uses withTenant().
   * @throws PlatformError `NOT_STARTED`; `RESULT_INVALID` when a row does not match the schema
   * @throws errors of mapPostgresError (StoreUnavailableError, STATEMENT_TIMEOUT, …)
   */
  async tenantQuery<S extends z.ZodType>(ctx: TenantContext, statement: PreparedStatement<S>, values: unknown[]): Promise<z.output<S>[]> {
    return this.scopedQuery({ organizationId: ctx.organizationId, userId: ctx.userId }, statement, values);
  }

  /**
   * {@link tenantQuery} under any scope, e.g. a user's own scope before an
   * organization is chosen (sign-in): the settings and the named read in one
   * round trip and one implicit transaction, every row validated. Ids in
   * `scope` must already be validated.
   * @throws PlatformError `NOT_STARTED`; `RESULT_INVALID` when a row does not match the schema
   * @throws errors of mapPostgresError (StoreUnavailableError, STATEMENT_TIMEOUT, …)
   */
  async scopedQuery<S extends z.ZodType>(scope: PostgresScope, statement: PreparedStatement<S>, values: unknown[]): Promise<z.output<S>[]> {
    const { rows } = await this.#pipelined(scope, statement, values);
    return rows.map((row) => parseStatementRow(statement, row));
  }

  /**
   * {@link tenantQuery} for a statement that returns no rows to validate
   * (e.g. an INSERT … ON CONFLICT DO NOTHING) under any scope: the settings and
   * the statement commit together at the pipeline's Sync, before this resolves.
   * Ids in `scope` must already be validated.
   * @returns the statement's row count
   * @throws PlatformError `NOT_STARTED`; errors of mapPostgresError
   */
  async scopedCommand(scope: PostgresScope, statement: { readonly name: string; readonly text: string }, values: unknown[]): Promise<number> {
    return (await this.#pipelined(scope, statement, values)).rowCount ?? 0;
  }

  async #pipelined(scope: PostgresScope, statement: { readonly name: string; readonly text: string }, values: unknown[]): Promise<pg.QueryResult> {
    const hot = this.#hot;
    if (!hot) throw new PlatformError('NOT_STARTED', 'PostgresConnection is not started');
    try {
      // pg.Pool.query hands a submittable to a client and discards that client if the query failed.
      return await hot.query(
        new ScopedPipelineQuery(scope, statement, values, pgTypeOverrides, this.config.postgres.pooler === 'transaction') as unknown as pg.QueryConfig,
      );
    } catch (error) {
      throw mapPostgresError(error, this.redactedUrl);
    }
  }

  #createHotPool(): { readonly pool: pg.Pool; readonly query: BoundedQuery } {
    const afterMs = this.config.postgres.idleValidationAfterMs;
    const options = {
      connectionString: this.config.postgres.appUrl,
      // Small: it only serves a few single-row reads, and each caller holds a connection for one round trip.
      max: Math.min(5, this.config.postgres.poolSize),
      connectionTimeoutMillis: this.config.connectTimeoutMs,
      ...(this.config.postgres.pooler === 'transaction' ? {} : { statement_timeout: this.config.postgres.statementTimeoutMs }),
      // pg's own client-side bound, a little after ours (see below): it frees the client (the pool then
      // discards it) once our bound has already answered the caller.
      query_timeout: this.config.postgres.queryTimeoutMs + 500,
      keepAlive: true,
      idleTimeoutMillis: 10_000,
      maxLifetimeSeconds: this.config.postgres.maxLifetimeSeconds,
      types: pgTypeOverrides,
    };
    const pool =
      afterMs === undefined
        ? new pg.Pool(options)
        : new IdleValidatingPgPool(options, { afterMs, timeoutMs: this.config.connectTimeoutMs, url: this.redactedUrl });
    // A checked-out client has no listener of pg-pool's between its queries, and a server that terminates the
    // connection right then (restart, pg_terminate_backend) makes it emit 'error': unhandled, that would end the
    // process. Callers learn of it through their query (pg fails the active query, and a client that is no longer
    // queryable fails the next one and is discarded on release), so this listener only keeps the process alive.
    pool.on('connect', (client) => client.on('error', () => undefined));
    // An idle connection the server drops (restart, idle kill) is an 'error' event; unhandled it would end the process.
    pool.on('error', (error) =>
      this.logger.warn('postgres hot-path connection lost; the pool replaces it', { error: mapPostgresError(error, this.redactedUrl).message }),
    );
    return { pool, query: boundedQuery(pool, this.config.postgres.queryTimeoutMs, () => this.#noAnswer()) };
  }

  /** @throws StoreUnavailableError when the server does not answer within the connect timeout */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#stopped = false;
    const ownerUrl = this.config.postgres.url;
    try {
      if (ownerUrl !== undefined) this.#owner = await this.#createPool(ownerUrl, Math.min(5, this.config.postgres.poolSize));
      // Connects lazily: no round trip here, and nothing to close if start fails below.
      this.#hot = this.#createHotPool();
    } catch (error) {
      await this.stop();
      throw this.#unavailable(error);
    }
    await this.connectAppPool().catch(async (error: unknown) => {
      // Without an owner nobody can run the migrations that create the role: nothing to wait for.
      if (!(error instanceof PlatformError && error.code === 'APP_ROLE_MISSING') || ownerUrl === undefined) {
        await this.stop();
        throw error;
      }
      this.logger.debug('postgres application role cannot log in yet (migrations pending)');
    });
    await this.ping().catch(async (error: unknown) => {
      await this.stop();
      throw error;
    });
    const replicaUrl = this.config.postgres.replicaUrl;
    if (replicaUrl !== undefined) {
      // A standby that cannot be reached does not stop the platform: its reads go to the primary.
      this.#replica = await this.#createPool(replicaUrl, this.config.postgres.poolSize).catch((error: unknown) => {
        this.logger.warn('postgres standby not connected; lag-tolerant reads use the primary', { error: this.#unavailable(error).message });
        return undefined;
      });
    }
    this.logger.debug('postgres connected', { url: this.redactedUrl });
  }

  #unavailable(error: unknown): PlatformError {
    const mapped = mapPostgresError(error, this.redactedUrl);
    return storeUnavailable('postgres', mapped, this.redactedUrl, error);
  }

  /** @throws StoreUnavailableError */
  async ping(): Promise<void> {
    const pool = this.#pingPool();
    await withTimeout(
      pool.query(sql.unsafe`SELECT 1`),
      this.config.connectTimeoutMs,
      () => new StoreUnavailableError('postgres', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl }),
    ).catch((error: unknown) => {
      throw this.#unavailable(error);
    });
  }

  async health(): Promise<StoreHealth> {
    const started = performance.now();
    try {
      if (!this.#started) throw new StoreUnavailableError('postgres', 'not started', { url: this.redactedUrl });
      const version = await withTimeout(
        this.#pingPool().oneFirst(sql.type(z.object({ server_version: z.string() }))`SHOW server_version`),
        this.config.connectTimeoutMs,
        () => new StoreUnavailableError('postgres', `no answer within ${this.config.connectTimeoutMs} ms`, { url: this.redactedUrl }),
      );
      const latencyMs = performance.now() - started;
      const state = this.#app?.state();
      const hot = this.#hot;
      const hotPath = hot ? { total: hot.pool.totalCount, idle: hot.pool.idleCount, waiting: hot.pool.waitingCount } : 'not started';
      const nodes = this.config.postgres.replicaUrl !== undefined || this.config.postgres.pooler === 'transaction' ? await this.#nodes() : undefined;
      return {
        store: 'postgres',
        status: 'up',
        latencyMs,
        version,
        url: this.redactedUrl,
        details: { appPool: state ?? 'not connected (migrations pending?)', hotPath },
        ...(nodes ? { nodes } : {}),
      };
    } catch (error) {
      // Which server is down, and whether another answers (a standby promoted): the nodes say it.
      const nodes =
        this.#started && (this.config.postgres.replicaUrl !== undefined || this.config.postgres.pooler === 'transaction') ? await this.#nodes() : undefined;
      return {
        store: 'postgres',
        status: 'down',
        latencyMs: undefined,
        version: undefined,
        url: this.redactedUrl,
        error: this.#unavailable(error).message,
        ...(nodes ? { nodes } : {}),
      };
    }
  }

  /** Each server's role: the primary (or what answers as such), the pooler in front of it, the standby with its replay lag. */
  async #nodes(): Promise<StoreNodeHealth[]> {
    const address = (url: string) => new URL(url).host;
    const role = sql.type(z.object({ standby: z.boolean(), lag_ms: z.number().nullable() }))`
      SELECT pg_is_in_recovery() AS standby,
             CASE WHEN pg_is_in_recovery() THEN (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::float8 END AS lag_ms`;
    const probe = async (pool: DatabasePool | undefined, url: string, expected: 'primary' | 'standby'): Promise<StoreNodeHealth> => {
      try {
        if (!pool) throw new StoreUnavailableError('postgres', 'not connected', { url: redactUrl(url) });
        const r = await withTimeout(
          pool.one(role),
          this.config.connectTimeoutMs,
          () => new StoreUnavailableError('postgres', 'no answer', { url: redactUrl(url) }),
        );
        const actual = r.standby ? 'standby' : 'primary';
        const lag = r.lag_ms === null ? '' : `, last replayed transaction ${Math.max(0, r.lag_ms).toFixed(0)} ms ago`;
        return {
          address: address(url),
          role: actual,
          status: 'up',
          detail: actual === expected ? `in recovery: ${r.standby}${lag}` : `expected ${expected}, answers as ${actual}${lag}`,
        };
      } catch (error) {
        return { address: address(url), role: expected, status: 'down', detail: this.#unavailable(error).message };
      }
    };
    const nodes: StoreNodeHealth[] = [];
    const primaryUrl = this.config.postgres.url ?? this.config.postgres.appUrl;
    if (this.config.postgres.pooler === 'transaction') {
      nodes.push({
        address: address(this.config.postgres.appUrl),
        role: 'pooler',
        status: this.#app ? 'up' : 'down',
        detail: 'transaction pooling (PG_POOLER=transaction): application role',
      });
    }
    nodes.push(await probe(this.#owner ?? this.#app, primaryUrl, 'primary'));
    if (this.config.postgres.replicaUrl !== undefined) nodes.push(await probe(this.#replica, this.config.postgres.replicaUrl, 'standby'));
    return nodes;
  }

  /** The owner pool when configured (it answers before the application role exists), else the application pool. */
  #pingPool(): DatabasePool {
    return this.#owner ?? this.appPool;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#started = false;
    const pools = [this.#app, this.#owner, this.#replica].filter((p): p is DatabasePool => p !== undefined);
    const hot = this.#hot;
    this.#replica = undefined;
    this.#app = undefined;
    this.#owner = undefined;
    this.#hot = undefined;
    await Promise.allSettled([...pools.map((p) => p.end()), ...(hot ? [hot.pool.end()] : [])]);
  }
}
