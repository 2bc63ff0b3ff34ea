import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { TokenError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { CONFIG, SIGNING_KEY_OPTIONS } from '../../tokens.js';
import { SessionValidator, type ValidatedSession } from './session-validator.js';
import type { SigningKeyOptions } from '../../signing-key-options.js';
import { SigningKeyRing } from './signing-key-ring.js';

/** The session an access token is signed for: what sign-in / refresh returned (`SignInResult` fits). */
export interface AccessTokenSubject {
  readonly sessionId: string;
  readonly accessTokenJti: string;
  readonly user: { readonly id: string };
  readonly organization: { readonly id: string };
  /** When the session expires: the token never outlives it. */
  readonly expiresAt: Date;
}

/** A signed access token. */
export interface SignedAccessToken {
  /** The compact JWS (RFC 7515 §7.1); a bearer credential — never log it. */
  readonly token: string;
  readonly kid: string;
  readonly expiresAt: Date;
}

/** A verified access token: its claims, and the session validation that accepted it. */
export interface VerifiedAccessToken {
  readonly kid: string;
  readonly jti: string;
  readonly expiresAt: Date;
  readonly session: ValidatedSession;
}

const subjectInput = z.object({
  sessionId: z.uuid(),
  accessTokenJti: z.string().min(1).max(200),
  user: z.object({ id: z.uuid() }),
  organization: z.object({ id: z.uuid() }),
  expiresAt: z.date(),
});
/** A compact JWS: three base64url parts (RFC 7515 §7.1); bounded so no megabyte token is parsed. */
const tokenInput = z
  .string()
  .max(8_192)
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a compact JWS');
const claimsSchema = z.object({ sub: z.uuid(), sid: z.uuid(), org: z.uuid(), jti: z.string().min(1).max(200), exp: z.number() });

/** RFC 9068 §2.1: the `typ` of a JWT access token. */
const ACCESS_TOKEN_TYPE = 'at+jwt';

/**
 * Access tokens as signed JWTs (RFC 9068 profile): `signAccessToken` signs
 * with the active key of the {@link SigningKeyRing}, `kid` in the header;
 * `verifyAccessToken` checks the signature with the published key of that
 * `kid`, the claims, and then the session itself through
 * {@link SessionValidator.validate} — the revocation marker, jti denylist and
 * per-user revocation epoch in Redis, or PostgreSQL while Redis is
 * unavailable — so a logout or revoke-all ends the token before its `exp`.
 */
@injectable()
@accessControlled
export class AccessTokens {
  constructor(
    @inject(SigningKeyRing) private readonly ring: SigningKeyRing,
    @inject(SessionValidator) private readonly validator: SessionValidator,
    @inject(SIGNING_KEY_OPTIONS) private readonly options: SigningKeyOptions,
    @inject(CONFIG) private readonly config: Config,
  ) {}

  /**
   * Signs the access token of a session: `sub` user, `sid` session, `org`
   * organization, `jti` the session's access-token jti, `exp` at most
   * `ACCESS_TOKEN_TTL_SECONDS` ahead and never after the session's expiry.
   * @throws ValidationError naming the field; TokenError `expired` for a session already past its expiry
   * @throws StoreUnavailableError when the key ring cannot be read; CryptoError when its private key does not decrypt
   */
  @declareAccess({ preTenant: 'signing the access token of a session the caller just authenticated' })
  async signAccessToken(session: AccessTokenSubject): Promise<SignedAccessToken> {
    const s = parseInput(subjectInput, session, 'session');
    const nowSeconds = Math.floor(Date.now() / 1000);
    const exp = Math.min(nowSeconds + this.config.auth.accessTokenTtlSeconds, Math.floor(s.expiresAt.getTime() / 1000));
    if (exp <= nowSeconds) throw new TokenError('expired', 'The session has expired');
    const key = await this.ring.activeKey();
    const token = await new SignJWT({ sid: s.sessionId, org: s.organization.id })
      .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(s.user.id)
      .setJti(s.accessTokenJti)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(exp)
      .sign(key.privateKey);
    return { token, kid: key.kid, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Verifies an access token: a `kid` of a published key, its algorithm only,
   * `typ` `at+jwt`, issuer, audience, expiry (with the configured clock
   * tolerance), then the session (revoked, ended, membership gone).
   * @throws TokenError `invalid` (malformed, unknown kid, bad signature or claims), `expired`, or `revoked`
   * @throws StoreUnavailableError when neither Redis nor PostgreSQL can answer
   */
  @declareAccess({ preTenant: 'token verification: the bearer is not known until the token verifies' })
  async verifyAccessToken(token: string): Promise<VerifiedAccessToken> {
    const compact = parseInput(tokenInput, token, 'token');
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(compact).kid;
    } catch {
      throw new TokenError('invalid', 'Access token is malformed');
    }
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 64) throw new TokenError('invalid', 'Access token has no valid kid');
    const key = await this.ring.verificationKey(kid);
    if (!key) throw new TokenError('invalid', 'Access token is signed by an unknown or retired key');
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(compact, key.publicKey, {
        algorithms: [key.algorithm],
        typ: ACCESS_TOKEN_TYPE,
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.options.clockToleranceSeconds,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new TokenError('expired', 'Access token has expired');
      throw new TokenError('invalid', 'Access token does not verify');
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new TokenError('invalid', 'Access token claims are malformed');
    const c = claims.data;
    const validated = await this.validator.validate({ userId: c.sub, sessionId: c.sid, jti: c.jti });
    if (validated.organizationId !== c.org) throw new TokenError('invalid', 'Access token names another organization than its session');
    return { kid, jti: c.jti, expiresAt: new Date(c.exp * 1000), session: validated };
  }
}
