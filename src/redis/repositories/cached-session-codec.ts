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
const HEADER = /^s1\|(\d+)\|(\d+)\|/;

export const cachedSessionCodec = {
  /** The tag the script matches literally (`^s1|`): bump it when the layout changes. */
  tag: 's1',

  /** @param session a record already validated by `cachedSessionSchema` (SessionCache.put does). */
  encode(session: CachedSession): string {
    // Integers only, so the script's `%d+` matches; flooring the expiry can only end the record earlier.
    return `s1|${Math.floor(session.expiresAt).toFixed(0)}|${session.revocationEpoch.toFixed(0)}|${JSON.stringify(session)}`;
  },

  /** Expiry and epoch from an `s1|` header (what validation checks before decoding), or undefined for any other value. */
  header(raw: string): { readonly expiresAt: number; readonly revocationEpoch: number } | undefined {
    const match = HEADER.exec(raw);
    return match ? { expiresAt: Number(match[1]), revocationEpoch: Number(match[2]) } : undefined;
  },

  /**
   * The record from a `hit` reply, or `undefined` when it is not one we can
   * trust (then the caller treats it as a miss and Postgres decides).
   * Checked by `cachedSessionSchema` itself — one definition of the shape, so
   * the read side cannot drift from the write side (a hand-written mirror did
   * before); a parse of eight fields costs microseconds against the round trip.
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
    const parsed = cachedSessionSchema.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  },
} as const;
