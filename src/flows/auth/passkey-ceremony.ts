import {
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
  type VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { PasskeyError, TokenError, ValidationError } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import type { AuditEventInput } from '../../postgres/repositories/audit-repository.js';
import { PasskeyRepository, type PasskeyRecord, type WebAuthnCeremony } from '../../postgres/repositories/passkey-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { IDENTITY_FLOW_OPTIONS } from '../../tokens.js';
import type { ParsedClientContext } from './client-context.js';
import type { IdentityFlowOptions } from '../../identity-flow-options.js';

const b64url = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const credentialBase = {
  id: b64url(1400),
  rawId: b64url(1400),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
};

/** A registration response as `navigator.credentials.create()` → `toJSON()` gives it (WebAuthn L3 §5.1, `RegistrationResponseJSON`). */
export const registrationResponseSchema = z.object({
  ...credentialBase,
  response: z.object({
    clientDataJSON: b64url(8192),
    attestationObject: b64url(65_536),
    transports: z.array(z.string().max(32)).max(8).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url(4096).optional(),
    authenticatorData: b64url(65_536).optional(),
  }),
});

/** An authentication response as `navigator.credentials.get()` → `toJSON()` gives it (`AuthenticationResponseJSON`). */
export const authenticationResponseSchema = z.object({
  ...credentialBase,
  response: z.object({
    clientDataJSON: b64url(8192),
    authenticatorData: b64url(65_536),
    signature: b64url(1024),
    userHandle: b64url(128).optional(),
  }),
});

const clientDataSchema = z.object({ challenge: z.string().min(1).max(512) });

/** A verified assertion: the passkey (as it was before this use) and whether the authenticator verified the user. */
export interface VerifiedAssertion {
  readonly passkey: PasskeyRecord;
  readonly userVerified: boolean;
}

/** The audit events of a passkey use (`auth.passkey.used`) or of a counter regression (`auth.passkey.counter_regression`, risk 90). */
export function passkeyUseAudit(client: ParsedClientContext, chosenOrganizationId: string | null, via: 'sign_in' | 'second_factor') {
  return (passkey: PasskeyRecord, outcome: 'used' | 'counter_regression'): readonly AuditEventInput[] => {
    // Before an organization is chosen, the event goes to the organization the passkey was registered in.
    const base = {
      organizationId: chosenOrganizationId ?? passkey.organizationId,
      actorUserId: passkey.userId,
      ip: client.ip ?? null,
      userAgent: client.userAgent ?? null,
    };
    return outcome === 'used'
      ? [{ ...base, eventType: 'auth.passkey.used', details: { passkeyId: passkey.id, via } }]
      : // §6.1.1: a counter that does not grow means two copies of the private key may exist.
        [{ ...base, eventType: 'auth.passkey.counter_regression', riskScore: 90, details: { passkeyId: passkey.id, storedCount: passkey.signCount, via } }];
  };
}

/** A ceremony response's challenge, read from its clientDataJSON (§5.8.1) so it can be consumed before anything else. */
function challengeOf(clientDataJSON: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
  } catch {
    throw new ValidationError([{ path: 'response.response.clientDataJSON', message: 'must be base64url JSON' }]);
  }
  return parseInput(clientDataSchema, parsed, 'response.response.clientDataJSON').challenge;
}

/** The challenge's bytes for the options generators (a string would be taken as UTF-8 text and encoded again). */
export function challengeBytes(challenge: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(challenge, 'base64url'));
}

/** The user handle we give each account: its uuid's 16 bytes (WebAuthn L2 §5.4.3: opaque, no personal data). */
export function userHandleOf(userId: string): Uint8Array {
  return new Uint8Array(Buffer.from(userId.replaceAll('-', ''), 'hex'));
}

function userIdOfHandle(handle: string): string | undefined {
  const hex = Buffer.from(handle, 'base64url').toString('hex');
  return hex.length === 32 ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : undefined;
}

/**
 * The two WebAuthn ceremonies' server side, on `@simplewebauthn/server`:
 * the challenge in the response is consumed first (single use, even when the
 * signature then fails), then the library verifies origin, RP ID, flags and
 * signature, then the signature counter is advanced by compare-and-set.
 *
 * The library's own counter check is bypassed (it is given counter 0): it
 * throws an untyped `Error` and runs on a value read before the write; the
 * repository's compare-and-set is the check, exact under concurrency, and a
 * regression is audited in the same transaction.
 */
@injectable()
@accessControlled
export class PasskeyCeremony {
  constructor(
    @inject(PasskeyRepository) private readonly passkeys: PasskeyRepository,
    @inject(IDENTITY_FLOW_OPTIONS) private readonly options: IdentityFlowOptions,
  ) {}

  /**
   * Verifies a registration response against a challenge created for `userId` (WebAuthn L2 §7.1).
   * @throws ValidationError naming `response.*`; TokenError for the challenge (also when it was another user's)
   * @throws PasskeyError `verification_failed`
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async verifyRegistration(userId: string, response: RegistrationResponseJSON): Promise<NonNullable<VerifiedRegistrationResponse['registrationInfo']>> {
    const r = parseInput(registrationResponseSchema, response, 'response');
    const challenge = await this.#consume('registration', r.response.clientDataJSON, userId);
    const webauthn = this.options.webauthn;
    let verified: VerifiedRegistrationResponse;
    try {
      verified = await verifyRegistrationResponse({
        response: r,
        expectedChallenge: challenge,
        expectedOrigin: webauthn.origins,
        expectedRPID: webauthn.rpId,
        requireUserVerification: webauthn.userVerification === 'required',
      });
    } catch (error) {
      throw new PasskeyError('verification_failed', { cause: error });
    }
    if (!verified.verified) throw new PasskeyError('verification_failed');
    return verified.registrationInfo;
  }

  /**
   * Verifies an assertion (WebAuthn L2 §7.2) and records the use. `expectedUserId`
   * is the user the sign-in is for (second factor); without it (usernameless) the
   * credential's owner is the user, and the response's user handle must name them (§7.2 step 6).
   * @param audit events of the outcome, given the passkey (written with the counter update)
   * @throws ValidationError naming `response.*`; TokenError for the challenge
   * @throws PasskeyError `unknown_credential` / `verification_failed` / `counter_regression` (audited)
   */
  @declareAccess({ preTenant: 'passkey flows (PasskeyService/PasskeySignIn), which check the caller first' })
  async verifyAssertion(
    response: AuthenticationResponseJSON,
    expectedUserId: string | undefined,
    audit: (passkey: PasskeyRecord, outcome: 'used' | 'counter_regression') => readonly AuditEventInput[],
  ): Promise<VerifiedAssertion> {
    const r = parseInput(authenticationResponseSchema, response, 'response');
    const challenge = await this.#consume('authentication', r.response.clientDataJSON, expectedUserId);
    const passkey = await this.passkeys.findByCredentialId(r.rawId);
    if (!passkey || (expectedUserId !== undefined && passkey.userId !== expectedUserId)) throw new PasskeyError('unknown_credential');
    if (r.response.userHandle !== undefined && userIdOfHandle(r.response.userHandle) !== passkey.userId) throw new PasskeyError('unknown_credential');
    if (expectedUserId === undefined && r.response.userHandle === undefined) throw new PasskeyError('verification_failed');
    const webauthn = this.options.webauthn;
    let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>['authenticationInfo'];
    try {
      const verified = await verifyAuthenticationResponse({
        response: r,
        expectedChallenge: challenge,
        expectedOrigin: webauthn.origins,
        expectedRPID: webauthn.rpId,
        requireUserVerification: webauthn.userVerification === 'required',
        // Counter 0: the library's read-then-compare check is replaced by the repository's compare-and-set.
        credential: { id: passkey.credentialId, publicKey: passkey.publicKey as Uint8Array<ArrayBuffer>, counter: 0, transports: [...passkey.transports] },
      });
      if (!verified.verified) throw new PasskeyError('verification_failed');
      info = verified.authenticationInfo;
    } catch (error) {
      throw error instanceof PasskeyError ? error : new PasskeyError('verification_failed', { cause: error });
    }
    const recorded = await this.passkeys.recordUse(
      passkey.userId,
      passkey.id,
      { newCounter: info.newCounter, backedUp: info.credentialBackedUp },
      { onSuccess: audit(passkey, 'used'), onRegression: audit(passkey, 'counter_regression') },
    );
    if (!recorded) throw new PasskeyError('counter_regression');
    return { passkey, userVerified: info.userVerified };
  }

  async #consume(ceremony: WebAuthnCeremony, clientDataJSON: string, expectedUserId: string | undefined): Promise<string> {
    const challenge = challengeOf(clientDataJSON);
    const { userId } = await this.passkeys.consumeChallenge(ceremony, challenge);
    // A challenge made for one user never serves another (nor a usernameless one a named sign-in).
    if ((userId ?? undefined) !== expectedUserId) throw new TokenError('invalid', 'The WebAuthn challenge was not issued for this ceremony');
    return challenge;
  }
}
