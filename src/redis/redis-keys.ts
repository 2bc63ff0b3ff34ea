import { createHash } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../config.js';
import { ValidationError } from '../errors.js';
import { CONFIG } from '../tokens.js';

/** A full Redis key built by {@link RedisKeys}; services accept only these, so no key escapes the schema or the prefix. */
export type RedisKey = string & { readonly __redisKey: true };

/** One row of the key schema. `pattern` omits the configured prefix (`REDIS_KEY_PREFIX`, default `pd:`). */
export interface RedisKeySpec {
  readonly name: string;
  readonly pattern: string;
  readonly type: 'string' | 'set' | 'zset' | 'bytes' | 'bullmq';
  readonly ttl: string;
  readonly owner: string;
  readonly purpose: string;
}

/**
 * The key schema: every key the package writes. Tenant data carries the
 * `{org:<id>}` hash tag and per-user state the `{user:<id>}` tag, so what one
 * Lua script touches lives in one Redis Cluster slot. Every key except the
 * BullMQ queues has a TTL. docs/sessions.md renders this table
 * ({@link renderKeySchemaMarkdown}) and a test checks the two agree.
 */
export const REDIS_KEY_SCHEMA: readonly RedisKeySpec[] = [
  {
    name: 'session.record',
    pattern: '{user:<userId>}:sess:<sessionId>',
    type: 'string',
    ttl: 'remaining session life (≤ SESSION_TTL_SECONDS)',
    owner: 'SessionCache',
    purpose: 'cached session record (expiry and epoch header, then JSON; no token values) or a revocation marker (JSON)',
  },
  {
    name: 'session.accessToken',
    pattern: '{user:<userId>}:at:<jti>',
    type: 'string',
    ttl: 'remaining access-token life',
    owner: 'SessionCache',
    purpose: 'access-token jti → session id, for validate by jti',
  },
  {
    name: 'session.denylist',
    pattern: '{user:<userId>}:deny:<jti>',
    type: 'string',
    ttl: 'remaining access-token life',
    owner: 'SessionCache',
    purpose: 'revoked access-token jti',
  },
  {
    name: 'session.epoch',
    pattern: '{user:<userId>}:epoch',
    type: 'string',
    ttl: 'SESSION_TTL_SECONDS, renewed by each revokeAllForUser',
    owner: 'SessionCache',
    purpose: "user's revocation epoch (monotonic: max(previous + 1, server ms))",
  },
  {
    name: 'session.index',
    pattern: '{user:<userId>}:sessions',
    type: 'set',
    ttl: 'longest remaining life of a member record',
    owner: 'SessionCache',
    purpose: "ids of the user's cached sessions",
  },
  {
    name: 'rateLimit.apiKey',
    pattern: '{org:<organizationId>}:rl:ak:<apiKeyId>',
    type: 'zset',
    ttl: 'window',
    owner: 'RateLimiter',
    purpose: 'sliding-window log per API key',
  },
  {
    name: 'rateLimit.user',
    pattern: '{user:<userId>}:rl:<scope>',
    type: 'zset',
    ttl: 'window',
    owner: 'RateLimiter',
    purpose: 'sliding-window log per user and scope',
  },
  {
    name: 'rateLimit.ip',
    pattern: 'rl:ip:<scope>:<sha256(ip)>',
    type: 'zset',
    ttl: 'window',
    owner: 'RateLimiter',
    purpose: 'sliding-window log per client IP (hashed) and scope',
  },
  {
    name: 'rateLimit.email',
    pattern: 'rl:em:<scope>:<sha256(lower(email))>',
    type: 'zset',
    ttl: 'window',
    owner: 'RateLimiter',
    purpose: 'sliding-window log per email address (hashed) and scope',
  },
  {
    name: 'login.account',
    pattern: 'lt:acct:<sha256(lower(email))>',
    type: 'string',
    ttl: 'throttle window (LOCKOUT_SECONDS)',
    owner: 'LoginThrottle',
    purpose: 'failed sign-ins per account (email hashed)',
  },
  {
    name: 'login.ip',
    pattern: 'lt:ip:<sha256(ip)>',
    type: 'string',
    ttl: 'throttle window (LOCKOUT_SECONDS)',
    owner: 'LoginThrottle',
    purpose: 'failed sign-ins per client IP (hashed)',
  },
  {
    name: 'cache.org',
    pattern: '{org:<organizationId>}:cache:<name>',
    type: 'string',
    ttl: 'chosen by the caller of getOrLoad',
    owner: 'CacheAside',
    purpose: 'tenant cache entry (JSON)',
  },
  {
    name: 'cache.global',
    pattern: '{cache:<name>}',
    type: 'string',
    ttl: 'chosen by the caller of getOrLoad',
    owner: 'CacheAside',
    purpose: 'cross-tenant cache entry (JSON)',
  },
  {
    name: 'cache.lock',
    pattern: '<cache entry key>:lock',
    type: 'string',
    ttl: 'lock TTL (default 5 s)',
    owner: 'CacheAside',
    purpose: 'stampede lock (value = holder token)',
  },
  {
    name: 'voice.audio',
    pattern: '{org:<organizationId>}:voice:<sha256(text, voice, format)>',
    type: 'bytes',
    ttl: 'default 7 days',
    owner: 'VoiceCache',
    purpose: 'synthesized audio bytes (metadata lives in Postgres)',
  },
  {
    name: 'queue',
    pattern: '{q:<queue>}:<queue>:*',
    type: 'bullmq',
    ttl: 'none (BullMQ-owned; finished jobs trimmed by age/count)',
    owner: 'JobQueues',
    purpose: 'BullMQ queues ingestion and erasure',
  },
];

/** Markdown table of {@link REDIS_KEY_SCHEMA}, as it appears in docs/sessions.md. */
export function renderKeySchemaMarkdown(prefix = 'pd:'): string {
  const rows = REDIS_KEY_SCHEMA.map((k) => `| \`${k.name}\` | \`${prefix}${k.pattern}\` | ${k.type} | ${k.ttl} | ${k.owner} | ${k.purpose} |`);
  return ['| name | key | type | TTL | owner | purpose |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

// Ids go into keys verbatim; braces would change the hash tag, whitespace/colons would alias other keys.
const ID = /^[A-Za-z0-9_.@-]{1,200}$/;

/** sha256 hex: identifiers that are personal data or secrets never appear in a key. */
export function hashForKey(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Normalized email hash used by the login throttle (trim + lower case). */
export function emailKeyHash(email: string): string {
  return hashForKey(email.trim().toLowerCase());
}

/**
 * Builds every key of {@link REDIS_KEY_SCHEMA} from `REDIS_KEY_PREFIX`.
 *
 * @example
 * keys.sessionRecord(userId, sessionId) // 'pd:{user:u1}:sess:s1'
 */
@injectable()
export class RedisKeys {
  readonly prefix: string;

  constructor(@inject(CONFIG) config: Config) {
    this.prefix = config.redis.keyPrefix;
  }

  #id(kind: string, value: string): string {
    if (!ID.test(value)) throw new ValidationError([{ path: kind, message: 'must be 1-200 characters of A-Z a-z 0-9 _ . @ -' }]);
    return value;
  }

  #key(rest: string): RedisKey {
    return `${this.prefix}${rest}` as RedisKey;
  }

  /** `{user:<id>}` (the hash tag is part of the key, not the prefix, so Cluster groups per user). */
  #user(userId: string): string {
    return `{user:${this.#id('userId', userId)}}`;
  }

  #org(organizationId: string): string {
    return `{org:${this.#id('organizationId', organizationId)}}`;
  }

  sessionRecordPrefix(userId: string): RedisKey {
    return this.#key(`${this.#user(userId)}:sess:`);
  }
  sessionRecord(userId: string, sessionId: string): RedisKey {
    return `${this.sessionRecordPrefix(userId)}${this.#id('sessionId', sessionId)}` as RedisKey;
  }
  sessionAccessToken(userId: string, jti: string): RedisKey {
    return this.#key(`${this.#user(userId)}:at:${this.#id('jti', jti)}`);
  }
  sessionDenylist(userId: string, jti: string): RedisKey {
    return this.#key(`${this.#user(userId)}:deny:${this.#id('jti', jti)}`);
  }
  sessionEpoch(userId: string): RedisKey {
    return this.#key(`${this.#user(userId)}:epoch`);
  }
  sessionIndex(userId: string): RedisKey {
    return this.#key(`${this.#user(userId)}:sessions`);
  }

  rateLimitApiKey(organizationId: string, apiKeyId: string): RedisKey {
    return this.#key(`${this.#org(organizationId)}:rl:ak:${this.#id('apiKeyId', apiKeyId)}`);
  }
  rateLimitUser(userId: string, scope: string): RedisKey {
    return this.#key(`${this.#user(userId)}:rl:${this.#id('scope', scope)}`);
  }
  rateLimitIp(ip: string, scope: string): RedisKey {
    return this.#key(`rl:ip:${this.#id('scope', scope)}:${hashForKey(ip)}`);
  }
  rateLimitEmail(email: string, scope: string): RedisKey {
    return this.#key(`rl:em:${this.#id('scope', scope)}:${emailKeyHash(email)}`);
  }

  loginAccount(email: string): RedisKey {
    return this.#key(`lt:acct:${emailKeyHash(email)}`);
  }
  loginIp(ip: string): RedisKey {
    return this.#key(`lt:ip:${hashForKey(ip)}`);
  }

  /** A cache entry of one tenant, or a cross-tenant one when `organizationId` is undefined. */
  cache(name: string, organizationId?: string): RedisKey {
    const n = this.#id('name', name);
    // A global entry tags itself, so it and its `:lock` key share a Cluster slot (cacheReadOrLock touches both).
    return this.#key(organizationId === undefined ? `{cache:${n}}` : `${this.#org(organizationId)}:cache:${n}`);
  }

  voice(organizationId: string, contentHash: string): RedisKey {
    if (!/^[0-9a-f]{64}$/.test(contentHash)) throw new ValidationError([{ path: 'contentHash', message: 'must be a sha256 hex digest' }]);
    return this.#key(`${this.#org(organizationId)}:voice:${contentHash}`);
  }

  /** BullMQ `prefix` of a queue: BullMQ appends `:<queue>:<suffix>`; the tag keeps one queue in one slot. */
  queuePrefix(queue: string): string {
    return `${this.prefix}{q:${this.#id('queue', queue)}}`;
  }
}
