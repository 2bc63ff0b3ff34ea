import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { z } from 'zod';
import { ConfigError, type IssueDetail } from './errors.js';
import { redactUrl } from './redact-url.js';
import { Secret } from './secret.js';

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One AES-256 key of the encryption key ring. */
export interface EncryptionKey {
  readonly id: string;
  readonly key: Secret<Buffer>;
}

export interface Config {
  readonly environment: 'development' | 'test' | 'production';
  readonly logLevel: LogLevel;
  readonly postgres: {
    /**
     * Owner connection: migrations, provisioning (bootstrap) and audit-partition DDL only.
     * `undefined` when only `DATABASE_APP_URL` is configured: the application then runs
     * on the application role alone (docs/security.md, "Least privilege at run time").
     */
    readonly url: string | undefined;
    /** Application-role connection used by repositories (no BYPASSRLS, owns no table). */
    readonly appUrl: string;
    readonly poolSize: number;
    readonly statementTimeoutMs: number;
    /** Client-side bound on every PostgreSQL call (default: statement timeout + 1 s); above the statement timeout, so the server's own cancel answers first. */
    readonly queryTimeoutMs: number;
    /**
     * `transaction` when `DATABASE_APP_URL` points at a transaction-pooling PgBouncer (`PG_POOLER`):
     * no named prepared statements and no `statement_timeout` startup parameter on the application
     * pools (PgBouncer 1.18 supports neither); the owner pool (`DATABASE_URL`) is meant to be direct.
     */
    readonly pooler: 'none' | 'transaction';
    /**
     * Application-role URL of a streaming standby (`DATABASE_REPLICA_URL`), for the reads that
     * tolerate replication lag (`PostgresConnection.lagTolerantPool`); undefined = every read on the primary.
     */
    readonly replicaUrl: string | undefined;
    /**
     * A pooled connection older than this is closed when it comes back to the pool (`PG_POOL_MAX_LIFETIME_SECONDS`,
     * default 1 h; 0 = no limit): server-side memory (plan and catalog caches) is returned, and after a failover
     * or DNS change every connection reaches the new server within one lifetime. Slonik spreads it ±10 %.
     */
    readonly maxLifetimeSeconds: number;
    /**
     * A pooled connection idle for at least this long answers `SELECT 1` before a caller gets it
     * (`PG_POOL_IDLE_VALIDATION=on`, `PG_POOL_IDLE_VALIDATION_AFTER_MS`, default 1000); undefined = off.
     */
    readonly idleValidationAfterMs: number | undefined;
  };
  readonly mongo: { readonly uri: string; readonly poolSize: number };
  readonly qdrant: { readonly url: string; readonly apiKey: Secret | undefined; readonly collectionPrefix: string };
  readonly redis: {
    /** Single-node URL; with `clusterNodes` only its credentials, TLS (`rediss:`) and database-less form apply. */
    readonly url: string;
    /** Seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES=host:port,…`); undefined = one node at `url`. */
    readonly clusterNodes: readonly RedisNodeAddress[] | undefined;
    readonly keyPrefix: string;
    /** Bound on one Redis command (ioredis `commandTimeout`); a command that meets it fails with StoreUnavailableError. */
    readonly commandTimeoutMs: number;
    /** Consecutive session-cache failures that open the circuit breaker (validations then go straight to PostgreSQL). */
    readonly breakerFailureThreshold: number;
    /** How long an open breaker sends validations to PostgreSQL before it probes Redis again. */
    readonly breakerCooldownMs: number;
  };
  /** Bound on connecting to / pinging any store before StoreUnavailableError. */
  readonly connectTimeoutMs: number;
  readonly encryption: {
    readonly keys: readonly EncryptionKey[];
    readonly activeKeyId: string;
    /** True when no key ring was configured and an ephemeral key was generated (never in production). */
    readonly ephemeral: boolean;
  };
  readonly auth: {
    readonly bcryptCost: number;
    readonly lockoutThreshold: number;
    readonly lockoutSeconds: number;
    readonly refreshReuseGraceSeconds: number;
    readonly sessionTtlSeconds: number;
    /**
     * A new session lives this long until its first validation or refresh confirms it (then it gets its full
     * lifetime): the bound on the life of a session whose answer never reached the caller (docs/sessions.md).
     */
    readonly sessionConfirmWindowSeconds: number;
    readonly accessTokenTtlSeconds: number;
    readonly minimumAge: number;
  };
  readonly retention: { readonly auditDays: number; readonly analyticsDays: number };
  /** Scheduled maintenance (docs/operations.md, "Scheduled maintenance"). */
  readonly maintenance: MaintenanceConfig;
}

/** When maintenance runs, how much each statement deletes, and how long ended rows are kept. */
export interface MaintenanceConfig {
  /** Period of the BullMQ job scheduler `platform-data worker` keeps (ignored when `cron` is set). */
  readonly everySeconds: number;
  /** A cron pattern (5 or 6 fields, UTC) instead of `everySeconds`. */
  readonly cron: string | undefined;
  /** Rows per DELETE statement (one short transaction each). */
  readonly batchSize: number;
  /** Statements per job and run at most; the rest waits for the next run. */
  readonly maxBatchesPerJob: number;
  /** Audit-log partitions created ahead, in months. */
  readonly auditMonthsAhead: number;
  /** Ended sessions and refresh-token families are kept this many days after they end. */
  readonly endedSessionDays: number;
  /** Rotated refresh tokens of live families are kept this many days (reuse of an older one is refused as unknown). */
  readonly rotatedRefreshTokenDays: number;
  /** Consumed or expired verification tokens and MFA challenges are kept this many days. */
  readonly verificationTokenDays: number;
  /** Integration tokens expired (never refreshed) this many days are deleted. */
  readonly integrationTokenDays: number;
  /** Answered or expired invitations are kept this many days. */
  readonly invitationDays: number;
  /** The maintenance_runs history is kept this many days. */
  readonly historyDays: number;
}

/** One node of a Redis Cluster seed list. */
export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** Defaults match docker-compose.yml. */
export const CONFIG_DEFAULTS = {
  DATABASE_URL: 'postgres://platform:platform@127.0.0.1:5432/platform',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/platform?directConnection=true',
  QDRANT_URL: 'http://127.0.0.1:6333',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  REDIS_KEY_PREFIX: 'pd:',
  APP_ROLE: 'platform_app',
} as const;

/** Every message names the allowed range, so the fix is in the message (`BCRYPT_COST: must be a whole number from 4 to 15, got 99`). */
const wholeNumber = (min: number, max: number) => {
  const range = `must be a whole number from ${min} to ${max}`;
  // The input is already coerced: a word arrives as NaN, which says nothing to the reader.
  const error = (issue: { input?: unknown }) => (typeof issue.input === 'number' && !Number.isNaN(issue.input) ? `${range}, got ${issue.input}` : range);
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const int = (min: number, max: number, def: number) => wholeNumber(min, max).default(def);

const urlWithScheme = (schemes: readonly string[]) =>
  z.string().refine(
    (v) => {
      try {
        return schemes.includes(new URL(v).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    `must be a URL with scheme ${schemes.join(' or ')}`,
  );

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  PLATFORM_ENV: z.enum(['development', 'test', 'production']).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  DATABASE_URL: urlWithScheme(['postgres', 'postgresql']).optional(),
  DATABASE_APP_URL: urlWithScheme(['postgres', 'postgresql']).optional(),
  PG_POOL_SIZE: int(1, 1000, 20),
  PG_STATEMENT_TIMEOUT_MS: int(100, 3_600_000, 30_000),
  PG_QUERY_TIMEOUT_MS: wholeNumber(200, 3_601_000).optional(),
  PG_POOLER: z.enum(['none', 'transaction']).default('none'),
  DATABASE_REPLICA_URL: urlWithScheme(['postgres', 'postgresql']).optional(),
  PG_POOL_MAX_LIFETIME_SECONDS: int(0, 604_800, 3_600),
  PG_POOL_IDLE_VALIDATION: z.enum(['on', 'off']).default('on'),
  PG_POOL_IDLE_VALIDATION_AFTER_MS: int(0, 600_000, 1_000),
  MONGODB_URI: urlWithScheme(['mongodb', 'mongodb+srv']).default(CONFIG_DEFAULTS.MONGODB_URI),
  MONGO_POOL_SIZE: int(1, 1000, 20),
  QDRANT_URL: urlWithScheme(['http', 'https']).default(CONFIG_DEFAULTS.QDRANT_URL),
  QDRANT_API_KEY: z.string().min(1).optional(),
  QDRANT_COLLECTION_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{0,48}$/, 'must be at most 48 characters of a-z, 0-9, "_", "-"')
    .default('platform_'),
  REDIS_URL: urlWithScheme(['redis', 'rediss']).default(CONFIG_DEFAULTS.REDIS_URL),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9:_-]{1,32}$/, 'must be 1-32 characters of a-z, 0-9, ":", "_", "-"')
    .default(CONFIG_DEFAULTS.REDIS_KEY_PREFIX),
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_COMMAND_TIMEOUT_MS: int(50, 120_000, 2_000),
  REDIS_BREAKER_FAILURE_THRESHOLD: int(1, 1_000, 3),
  REDIS_BREAKER_COOLDOWN_MS: int(100, 600_000, 5_000),
  STORE_CONNECT_TIMEOUT_MS: int(100, 120_000, 5_000),
  PLATFORM_ENCRYPTION_KEYS: z.string().optional(),
  PLATFORM_ENCRYPTION_ACTIVE_KEY_ID: z.string().optional(),
  BCRYPT_COST: int(4, 15, 12),
  LOCKOUT_THRESHOLD: int(1, 100, 5),
  LOCKOUT_SECONDS: int(1, 86_400 * 30, 900),
  REFRESH_REUSE_GRACE_SECONDS: int(0, 300, 10),
  SESSION_TTL_SECONDS: int(60, 86_400 * 365, 86_400 * 30),
  SESSION_CONFIRM_WINDOW_SECONDS: int(1, 86_400, 600),
  ACCESS_TOKEN_TTL_SECONDS: int(30, 86_400, 900),
  MINIMUM_AGE: int(0, 21, 13),
  AUDIT_RETENTION_DAYS: int(1, 3650, 90),
  ANALYTICS_RETENTION_DAYS: int(1, 3650, 365),
  MAINTENANCE_EVERY_SECONDS: int(60, 604_800, 3_600),
  MAINTENANCE_CRON: z
    .string()
    .trim()
    .regex(/^(\S+\s+){4,5}\S+$/, 'must be a cron pattern of 5 or 6 fields, e.g. "17 3 * * *"')
    .optional(),
  MAINTENANCE_BATCH_SIZE: int(1, 10_000, 1_000),
  MAINTENANCE_MAX_BATCHES: int(1, 100_000, 1_000),
  AUDIT_PARTITIONS_AHEAD_MONTHS: int(0, 36, 3),
  ENDED_SESSION_RETENTION_DAYS: int(0, 3650, 7),
  ROTATED_REFRESH_TOKEN_RETENTION_DAYS: int(1, 3650, 30),
  VERIFICATION_TOKEN_RETENTION_DAYS: int(0, 3650, 7),
  INTEGRATION_TOKEN_RETENTION_DAYS: int(0, 3650, 30),
  INVITATION_RETENTION_DAYS: int(0, 3650, 30),
  MAINTENANCE_HISTORY_DAYS: int(1, 3650, 30),
});

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

// A host name, an IPv4 address or a bracketed IPv6 address, then a port.
const NODE = /^(?<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\]):(?<port>\d{1,5})$/;

/** Parses `host:port,host:port` (at least one node; ports 1-65535; no duplicates). */
function parseClusterNodes(raw: string, issues: IssueDetail[]): RedisNodeAddress[] {
  const nodes: RedisNodeAddress[] = [];
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) issues.push({ path: 'REDIS_CLUSTER_NODES', message: 'expected "host:port,host:port…"' });
  for (const [index, entry] of entries.entries()) {
    const match = NODE.exec(entry);
    const port = Number(match?.groups?.port);
    if (!match?.groups?.host || !Number.isInteger(port) || port < 1 || port > 65_535) {
      issues.push({ path: 'REDIS_CLUSTER_NODES', message: `entry ${index + 1}: expected "host:port" with a port from 1 to 65535` });
      continue;
    }
    const host = match.groups.host.replace(/^\[|\]$/g, '');
    if (nodes.some((n) => n.host === host && n.port === port))
      issues.push({ path: 'REDIS_CLUSTER_NODES', message: `entry ${index + 1}: ${entry} appears twice` });
    else nodes.push({ host, port });
  }
  return nodes;
}

/** Parses `id:base64key,id:base64key` (each key 32 bytes). */
function parseKeyRing(raw: string, issues: IssueDetail[]): EncryptionKey[] {
  const keys: EncryptionKey[] = [];
  for (const [index, entry] of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .entries()) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    const material = sep > 0 ? Buffer.from(entry.slice(sep + 1), 'base64') : Buffer.alloc(0);
    if (!KEY_ID.test(id)) {
      issues.push({ path: 'PLATFORM_ENCRYPTION_KEYS', message: `entry ${index + 1}: expected "<id>:<base64 key>"` });
    } else if (material.length !== 32) {
      issues.push({ path: 'PLATFORM_ENCRYPTION_KEYS', message: `key "${id}": must decode to 32 bytes (AES-256)` });
    } else if (keys.some((k) => k.id === id)) {
      issues.push({ path: 'PLATFORM_ENCRYPTION_KEYS', message: `key id "${id}" appears twice` });
    } else {
      keys.push({ id, key: new Secret(material) });
    }
  }
  return keys;
}

function withUser(url: string, user: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = '';
  return parsed.toString();
}

/**
 * Builds the configuration from environment variables.
 *
 * @example
 * const config = loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/app' });
 * @throws ConfigError listing every invalid variable at once (values redacted).
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  // Empty strings mean "unset", as shells and .env files commonly produce them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  const issues: IssueDetail[] = parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code }));
  const e = parsed.success ? parsed.data : undefined;
  const environment =
    (cleaned.PLATFORM_ENV as Config['environment'] | undefined) ??
    (cleaned.NODE_ENV === 'production' ? 'production' : cleaned.NODE_ENV === 'test' ? 'test' : 'development');

  let keys: EncryptionKey[] = [];
  let ephemeral = false;
  if (cleaned.PLATFORM_ENCRYPTION_KEYS) {
    keys = parseKeyRing(cleaned.PLATFORM_ENCRYPTION_KEYS, issues);
  } else if (environment === 'production') {
    issues.push({ path: 'PLATFORM_ENCRYPTION_KEYS', message: 'required in production' });
  } else {
    keys = [{ id: 'ephemeral', key: new Secret(randomBytes(32)) }];
    ephemeral = true;
  }
  const activeKeyId = cleaned.PLATFORM_ENCRYPTION_ACTIVE_KEY_ID ?? keys.at(-1)?.id ?? '';
  if (keys.length > 0 && !keys.some((k) => k.id === activeKeyId)) {
    issues.push({ path: 'PLATFORM_ENCRYPTION_ACTIVE_KEY_ID', message: `no key with id "${activeKeyId}" in the ring` });
  }
  if (e?.PG_QUERY_TIMEOUT_MS !== undefined && e.PG_QUERY_TIMEOUT_MS <= e.PG_STATEMENT_TIMEOUT_MS) {
    issues.push({
      path: 'PG_QUERY_TIMEOUT_MS',
      message: `must be above PG_STATEMENT_TIMEOUT_MS (${e.PG_STATEMENT_TIMEOUT_MS}), so the server cancels a slow statement before the client gives up on the connection`,
    });
  }
  const clusterNodes = cleaned.REDIS_CLUSTER_NODES === undefined ? undefined : parseClusterNodes(cleaned.REDIS_CLUSTER_NODES, issues);
  // Redis Cluster has database 0 only (SELECT is refused: https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/).
  if (clusterNodes !== undefined && e !== undefined && !['', '0'].includes(new URL(e.REDIS_URL).pathname.replace(/^\//, ''))) {
    issues.push({ path: 'REDIS_URL', message: 'must name database 0 (or none) when REDIS_CLUSTER_NODES is set: a Redis Cluster has only database 0' });
  }
  if (issues.length > 0 || !e) throw new ConfigError(issues);

  const config: Config = {
    environment,
    logLevel: e.LOG_LEVEL,
    postgres: {
      // With DATABASE_APP_URL alone there is no owner: run time needs none.
      url: e.DATABASE_URL ?? (e.DATABASE_APP_URL === undefined ? CONFIG_DEFAULTS.DATABASE_URL : undefined),
      appUrl: e.DATABASE_APP_URL ?? withUser(e.DATABASE_URL ?? CONFIG_DEFAULTS.DATABASE_URL, CONFIG_DEFAULTS.APP_ROLE),
      poolSize: e.PG_POOL_SIZE,
      statementTimeoutMs: e.PG_STATEMENT_TIMEOUT_MS,
      queryTimeoutMs: e.PG_QUERY_TIMEOUT_MS ?? e.PG_STATEMENT_TIMEOUT_MS + 1_000,
      pooler: e.PG_POOLER,
      replicaUrl: e.DATABASE_REPLICA_URL,
      maxLifetimeSeconds: e.PG_POOL_MAX_LIFETIME_SECONDS,
      idleValidationAfterMs: e.PG_POOL_IDLE_VALIDATION === 'on' ? e.PG_POOL_IDLE_VALIDATION_AFTER_MS : undefined,
    },
    mongo: { uri: e.MONGODB_URI, poolSize: e.MONGO_POOL_SIZE },
    qdrant: { url: e.QDRANT_URL, apiKey: e.QDRANT_API_KEY ? new Secret(e.QDRANT_API_KEY) : undefined, collectionPrefix: e.QDRANT_COLLECTION_PREFIX },
    redis: {
      url: e.REDIS_URL,
      clusterNodes: clusterNodes && Object.freeze(clusterNodes),
      keyPrefix: e.REDIS_KEY_PREFIX,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      breakerFailureThreshold: e.REDIS_BREAKER_FAILURE_THRESHOLD,
      breakerCooldownMs: e.REDIS_BREAKER_COOLDOWN_MS,
    },
    connectTimeoutMs: e.STORE_CONNECT_TIMEOUT_MS,
    encryption: { keys, activeKeyId, ephemeral },
    auth: {
      bcryptCost: e.BCRYPT_COST,
      lockoutThreshold: e.LOCKOUT_THRESHOLD,
      lockoutSeconds: e.LOCKOUT_SECONDS,
      refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
      sessionTtlSeconds: e.SESSION_TTL_SECONDS,
      sessionConfirmWindowSeconds: e.SESSION_CONFIRM_WINDOW_SECONDS,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      minimumAge: e.MINIMUM_AGE,
    },
    retention: { auditDays: e.AUDIT_RETENTION_DAYS, analyticsDays: e.ANALYTICS_RETENTION_DAYS },
    maintenance: {
      everySeconds: e.MAINTENANCE_EVERY_SECONDS,
      cron: e.MAINTENANCE_CRON,
      batchSize: e.MAINTENANCE_BATCH_SIZE,
      maxBatchesPerJob: e.MAINTENANCE_MAX_BATCHES,
      auditMonthsAhead: e.AUDIT_PARTITIONS_AHEAD_MONTHS,
      endedSessionDays: e.ENDED_SESSION_RETENTION_DAYS,
      rotatedRefreshTokenDays: e.ROTATED_REFRESH_TOKEN_RETENTION_DAYS,
      verificationTokenDays: e.VERIFICATION_TOKEN_RETENTION_DAYS,
      integrationTokenDays: e.INTEGRATION_TOKEN_RETENTION_DAYS,
      invitationDays: e.INVITATION_RETENTION_DAYS,
      historyDays: e.MAINTENANCE_HISTORY_DAYS,
    },
  };
  return Object.freeze(
    Object.assign(config, {
      toJSON: () => redactConfig(config),
      [inspect.custom]: () => redactConfig(config),
    }),
  );
}

/**
 * The owner URL, for the commands that need it (migrate, provision, bootstrap, audit-partition DDL).
 * @throws ConfigError naming `DATABASE_URL` when only `DATABASE_APP_URL` is configured
 */
export function ownerDatabaseUrl(config: Config, purpose: string): string {
  if (config.postgres.url === undefined) {
    throw new ConfigError([
      { path: 'DATABASE_URL', message: `required for ${purpose} (the owner role); the application itself runs on DATABASE_APP_URL alone` },
    ]);
  }
  return config.postgres.url;
}

/** A printable copy of `config` with every secret (URL passwords, keys) redacted. */
export function redactConfig(config: Config): Record<string, unknown> {
  return {
    environment: config.environment,
    logLevel: config.logLevel,
    postgres: {
      ...config.postgres,
      url: config.postgres.url === undefined ? undefined : redactUrl(config.postgres.url),
      appUrl: redactUrl(config.postgres.appUrl),
      replicaUrl: config.postgres.replicaUrl === undefined ? undefined : redactUrl(config.postgres.replicaUrl),
    },
    mongo: { ...config.mongo, uri: redactUrl(config.mongo.uri) },
    qdrant: { url: redactUrl(config.qdrant.url), apiKey: config.qdrant.apiKey ? '[redacted]' : undefined, collectionPrefix: config.qdrant.collectionPrefix },
    redis: { ...config.redis, url: redactUrl(config.redis.url) },
    connectTimeoutMs: config.connectTimeoutMs,
    encryption: {
      keys: config.encryption.keys.map((k) => ({ id: k.id, key: '[redacted]' })),
      activeKeyId: config.encryption.activeKeyId,
      ephemeral: config.encryption.ephemeral,
    },
    auth: config.auth,
    retention: config.retention,
    maintenance: config.maintenance,
  };
}
