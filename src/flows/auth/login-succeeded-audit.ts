import type { UserRecord } from '../../postgres/repositories/user-repository.js';
import type { ParsedClientContext } from './client-context.js';
import type { IssueOptions } from './session-issuer.js';

/**
 * The `audit` option of `SessionIssuer.issue` for a sign-in that ends without
 * `SignInBookkeeping` (`FirstFactorSignIn`, a passkey as second factor): one `auth.login.succeeded` event
 * in the session's transaction, with the session's id and `details`.
 */
export function loginSucceededAudit(user: UserRecord, client: ParsedClientContext, details: Record<string, unknown>): NonNullable<IssueOptions['audit']> {
  return (sessionId, organizationId) => [
    {
      eventType: 'auth.login.succeeded',
      organizationId,
      actorUserId: user.id,
      ip: client.ip ?? null,
      userAgent: client.userAgent ?? null,
      details: { sessionId, ...details },
    },
  ];
}
