import type { UserRecord } from '../../postgres/repositories/user-repository.js';
import { clientAuditFields, type ParsedClientContext } from './client-context.js';
import type { IssueOptions } from './session-issuer.js';

/**
 * The `audit` option of `SessionIssuer.issue` for a sign-in that ends without
 * `SignInBookkeeping` (`FirstFactorSignIn`, a passkey as second factor): one `auth.login.succeeded` event
 * in the session's transaction, with the session's id and `details`, and the client's ip, user agent
 * and location like every other sign-in's event.
 */
export function loginSucceededAudit(user: UserRecord, client: ParsedClientContext, details: Record<string, unknown>): NonNullable<IssueOptions['audit']> {
  return (sessionId, organizationId) => [
    {
      eventType: 'auth.login.succeeded',
      organizationId,
      actorUserId: user.id,
      ...clientAuditFields(client),
      outcome: 'success',
      details: { sessionId, ...details },
    },
  ];
}
