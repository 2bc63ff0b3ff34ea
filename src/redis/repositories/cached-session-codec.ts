import { z } from 'zod';

/**
 * What Redis keeps of a session. Never a token value, hash or secret: only
 * identifiers and the facts a request needs to be authorized.
 */
export const cachedSessionSchema = z.object({
  sessionId: z.string(),
  userId: z.string(),
  organizationId: z.string().nullable(),
  /** Epoch milliseconds. */
  expiresAt: z.number(),
  /** The user's revocation epoch observed (via `readEpoch`) before the session row was read from Postgres. */
  revocationEpoch: z.number().int().nonnegative(),
  roles: z.array(z.string()).default([]),
  scopes: z.array(z.string()).default([]),
  mfaVerified: z.boolean().default(false),
  /**
   * False for a new session its first use has not confirmed yet (sql/0116): `SessionValidator` confirms it in
   * PostgreSQL once, then caches `true`. Records of older releases are confirmed sessions.
   */
  confirmed: z.boolean().default(true),
});
export type CachedSession = z.output<typeof cachedSessionSchema>;
export type CachedSessionInput = z.input<typeof cachedSessionSchema>;

/** The parsed `s1|` header: the two numbers validation checks before decoding, and where the JSON starts. */
export interface CachedSessionHeader {
  readonly expiresAt: number;
  readonly revocationEpoch: number;
  /** Index of the JSON body in the stored value. */
  readonly bodyStart: number;
}

const PIPE = 0x7c;

/** End of the run of ASCII digits starting at `from` (what `\d+` of a non-unicode RegExp matches). */
function digitsEnd(raw: string, from: number): number {
  let i = from;
  for (let c = raw.charCodeAt(i); c >= 0x30 && c <= 0x39; c = raw.charCodeAt(++i));
  return i;
}

/** The verdict of `z.array(z.string())` on a JSON value. */
function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const item of value) if (typeof item !== 'string') return false;
  return true;
}

/**
 * `cachedSessionSchema.safeParse(value)` for a value `JSON.parse` returned, written out: the same verdict and the
 * same output (unknown keys dropped, defaults filled, keys in the schema's order) for every such value, which
 * test/unit/redis/cached-session-codec.test.ts checks against the schema itself over valid, malformed and random
 * records (and that the two name the same fields). Validation runs on every request; this costs a tenth of the
 * schema's generic walk. JSON values only: no getters, prototypes or `undefined` members to consider.
 */
export function cachedSessionFromJson(value: unknown): CachedSession | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const { sessionId, userId, organizationId, expiresAt, revocationEpoch } = v;
  if (typeof sessionId !== 'string' || typeof userId !== 'string') return undefined;
  if (organizationId !== null && typeof organizationId !== 'string') return undefined;
  // zod 4: z.number() refuses ±Infinity (JSON's 1e999); .int() means a safe integer.
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined;
  if (typeof revocationEpoch !== 'number' || !Number.isSafeInteger(revocationEpoch) || revocationEpoch < 0) return undefined;
  const roles = v.roles === undefined ? [] : v.roles;
  const scopes = v.scopes === undefined ? [] : v.scopes;
  if (!isStringArray(roles) || !isStringArray(scopes)) return undefined;
  const mfaVerified = v.mfaVerified === undefined ? false : v.mfaVerified;
  const confirmed = v.confirmed === undefined ? true : v.confirmed;
  if (typeof mfaVerified !== 'boolean' || typeof confirmed !== 'boolean') return undefined;
  return { sessionId, userId, organizationId, expiresAt, revocationEpoch, roles, scopes, mfaVerified, confirmed };
}

/** The fields {@link cachedSessionFromJson} checks, in the schema's order (the test compares them with the schema's keys). */
export const CACHED_SESSION_FIELDS = [
  'sessionId',
  'userId',
  'organizationId',
  'expiresAt',
  'revocationEpoch',
  'roles',
  'scopes',
  'mfaVerified',
  'confirmed',
] as const satisfies readonly (keyof CachedSession)[];

/**
 * The stored form of a cached session: `s1|<expiresAt>|<revocationEpoch>|<JSON>`.
 *
 * Why a header: `validateSession` runs on every request and must compare the
 * expiry and the epoch before answering `hit`. With the two numbers in front
 * of the JSON the script reads them with one anchored `string.match` instead
 * of `cjson.decode` of the whole record (the script's biggest cost after the
 * EVALSHA itself). The JSON is the complete record, for the Node side.
 *
 * Revocation markers and records written by older releases are plain JSON
 * (`{…`); the script still decodes those, so a rolling upgrade keeps working.
 */
export const cachedSessionCodec = {
  /** The tag the script matches literally (`^s1|`): bump it when the layout changes. */
  tag: 's1',

  /** @param session a record already validated by `cachedSessionSchema` (SessionCache.put does). */
  encode(session: CachedSession): string {
    // Integers only, so the script's `%d+` matches; flooring the expiry can only end the record earlier.
    return `s1|${Math.floor(session.expiresAt).toFixed(0)}|${session.revocationEpoch.toFixed(0)}|${JSON.stringify(session)}`;
  },

  /**
   * Expiry and epoch from an `s1|` header (what validation checks before decoding), or undefined for any other
   * value: the header is `^s1\|(\d+)\|(\d+)\|`, read without a RegExp.
   */
  header(raw: string): CachedSessionHeader | undefined {
    if (!raw.startsWith('s1|')) return undefined;
    const expiresEnd = digitsEnd(raw, 3);
    if (expiresEnd === 3 || raw.charCodeAt(expiresEnd) !== PIPE) return undefined;
    const epochEnd = digitsEnd(raw, expiresEnd + 1);
    if (epochEnd === expiresEnd + 1 || raw.charCodeAt(epochEnd) !== PIPE) return undefined;
    return { expiresAt: Number(raw.slice(3, expiresEnd)), revocationEpoch: Number(raw.slice(expiresEnd + 1, epochEnd)), bodyStart: epochEnd + 1 };
  },

  /**
   * The record from a `hit` reply, or `undefined` when it is not one we can
   * trust (then the caller treats it as a miss and Postgres decides).
   * Checked by {@link cachedSessionFromJson}, which answers what
   * `cachedSessionSchema` answers (a test holds the two together, so the read
   * side cannot drift from the write side).
   * @param bodyStart where the JSON starts, when the caller already read the header.
   */
  decode(raw: string, bodyStart?: number): CachedSession | undefined {
    // Records of releases before the s1 header are JSON from the start.
    const start = bodyStart ?? (raw.startsWith('s1|') ? cachedSessionCodec.header(raw)?.bodyStart : 0);
    if (start === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(start === 0 ? raw : raw.slice(start));
    } catch {
      return undefined;
    }
    return cachedSessionFromJson(value);
  },
} as const;
