import type { CachedSession } from './session-cache.js';

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
export const sessionRecordCodec = {
  /** The tag the script matches literally (`^s1|`): bump it when the layout changes. */
  tag: 's1',

  /** @param session a record already validated by `cachedSessionSchema` (SessionCache.put does). */
  encode(session: CachedSession): string {
    // Integers only, so the script's `%d+` matches; flooring the expiry can only end the record earlier.
    return `s1|${Math.floor(session.expiresAt).toFixed(0)}|${session.revocationEpoch.toFixed(0)}|${JSON.stringify(session)}`;
  },

  /**
   * The record from a `hit` reply, or `undefined` when it is not one we can
   * trust (then the caller treats it as a miss and Postgres decides).
   * A structural check, not a zod parse: this runs on every request, and the
   * record was validated by `cachedSessionSchema` when it was written.
   */
  decode(raw: string): CachedSession | undefined {
    let json = raw;
    if (raw.startsWith('s1|')) {
      const bodyStart = raw.indexOf('|', raw.indexOf('|', 3) + 1) + 1;
      if (bodyStart === 0) return undefined;
      json = raw.slice(bodyStart);
    }
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      return undefined;
    }
    return toCachedSession(value);
  },
} as const;

/** Mirrors `cachedSessionSchema` (same fields, same defaults, unknown keys dropped). */
function toCachedSession(value: unknown): CachedSession | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const { sessionId, userId, organizationId, expiresAt, revocationEpoch } = v;
  if (typeof sessionId !== 'string' || typeof userId !== 'string') return undefined;
  if (organizationId !== null && typeof organizationId !== 'string') return undefined;
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined;
  if (typeof revocationEpoch !== 'number' || !Number.isSafeInteger(revocationEpoch) || revocationEpoch < 0) return undefined;
  const roles = stringArray(v.roles);
  const scopes = stringArray(v.scopes);
  const mfaVerified = v.mfaVerified === undefined ? false : v.mfaVerified;
  if (roles === undefined || scopes === undefined || typeof mfaVerified !== 'boolean') return undefined;
  return { sessionId, userId, organizationId, expiresAt, revocationEpoch, roles, scopes, mfaVerified };
}

function stringArray(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return undefined;
  for (const item of value) if (typeof item !== 'string') return undefined;
  return value as string[];
}
