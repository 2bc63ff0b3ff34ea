import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The bearer token this service hands out: the session's user id and access
 * token id (jti), HMAC-SHA256-signed with the service's secret. platform-data
 * keeps the session; the application signs the token (a JWT library does the
 * same with more options).
 */
export interface AccessClaims {
  readonly userId: string;
  readonly jti: string;
}

export function signAccessToken(claims: AccessClaims, secret: string): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

/** The claims of a token this service signed, or undefined for anything else. */
export function verifyAccessToken(token: string, secret: string): AccessClaims | undefined {
  const [payload, signature] = token.split('.');
  if (!payload || !signature) return undefined;
  const expected = createHmac('sha256', secret).update(payload).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<AccessClaims>;
  return typeof claims.userId === 'string' && typeof claims.jti === 'string' ? { userId: claims.userId, jti: claims.jti } : undefined;
}
