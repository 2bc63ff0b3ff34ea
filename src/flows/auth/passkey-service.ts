import { generateRegistrationOptions, type PublicKeyCredentialCreationOptionsJSON, type RegistrationResponseJSON } from '@simplewebauthn/server';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ConflictError, NotFoundError, PasskeyError } from '../../errors.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import {
  AUTHENTICATOR_TRANSPORTS,
  PasskeyRepository,
  type AuthenticatorTransport,
  type PasskeyRecord,
  type PasskeySummary,
} from '../../postgres/repositories/passkey-repository.js';
import { UserRepository } from '../../postgres/repositories/user-repository.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import type { TenantContext } from '../../tenancy/tenant-context.js';
import { IDENTITY_FLOW_OPTIONS } from '../../tokens.js';
import type { IdentityFlowOptions } from '../../identity-flow-options.js';
import { challengeBytes, PasskeyCeremony, userHandleOf } from './passkey-ceremony.js';

/** Passkeys one account may hold; more is a script, not a person. */
const MAX_PASSKEYS_PER_USER = 20;

function summary(p: PasskeyRecord): PasskeySummary {
  return {
    id: p.id,
    credentialId: p.credentialId,
    friendlyName: p.friendlyName,
    transports: p.transports,
    backupEligible: p.backupEligible,
    backedUp: p.backedUp,
    aaguid: p.aaguid,
    organizationId: p.organizationId,
    lastUsedAt: p.lastUsedAt,
    createdAt: p.createdAt,
  };
}

/**
 * A signed-in person's passkeys: registration (WebAuthn L2 §7.1), listing and
 * removal. Sign-in with a passkey is {@link PasskeySignIn}.
 *
 * @example
 * const options = await passkeys.beginRegistration(ctx);          // → navigator.credentials.create({ publicKey: options })
 * const passkey = await passkeys.finishRegistration(ctx, credential.toJSON(), 'Laptop');
 */
@injectable()
@accessControlled
export class PasskeyService {
  constructor(
    @inject(PasskeyRepository) private readonly passkeys: PasskeyRepository,
    @inject(PasskeyCeremony) private readonly ceremony: PasskeyCeremony,
    @inject(UserRepository) private readonly users: UserRepository,
    @inject(IDENTITY_FLOW_OPTIONS) private readonly options: IdentityFlowOptions,
  ) {}

  /**
   * Creation options for a new passkey of the signed-in user: a discoverable
   * credential (`residentKey: required`, so it can sign in without a username),
   * the user's existing credentials excluded (§5.4 `excludeCredentials`), a
   * single-use challenge stored hashed.
   * @throws TenantAccessError (`own_account`) for an API key or a job; NotFoundError when the user is gone
   * @throws ConflictError `passkey_limit` at 20 passkeys
   */
  @declareAccess({ ownAccount: true })
  async beginRegistration(ctx: TenantContext): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const user = await this.users.getById(ctx.userId);
    if (!user) throw new NotFoundError('user', ctx.userId);
    const existing = await this.passkeys.listForUser(ctx.userId);
    if (existing.length >= MAX_PASSKEYS_PER_USER) throw new ConflictError('Too many passkeys', { store: 'postgres', constraint: 'passkey_limit' });
    const webauthn = this.options.webauthn;
    const { challenge } = await this.passkeys.createChallenge(ctx.userId, 'registration', webauthn.challengeTtlSeconds);
    return generateRegistrationOptions({
      rpName: webauthn.rpName,
      rpID: webauthn.rpId,
      userName: user.email,
      userID: userHandleOf(user.id) as Uint8Array<ArrayBuffer>,
      userDisplayName: user.displayName ?? user.email,
      challenge: challengeBytes(challenge),
      timeout: webauthn.challengeTtlSeconds * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: [...p.transports] })),
      authenticatorSelection: { residentKey: 'required', userVerification: webauthn.userVerification },
    });
  }

  /**
   * Verifies the authenticator's answer to {@link beginRegistration} and stores
   * the passkey (`auth.passkey.registered` audited in the same transaction).
   * @param friendlyName how the user will recognise it (default "Passkey")
   * @throws ValidationError naming `response.*` / `friendlyName`; TokenError for the challenge (`consumed`, `expired`, `invalid`)
   * @throws PasskeyError `verification_failed` / `already_registered`
   */
  @declareAccess({ ownAccount: true })
  async finishRegistration(ctx: TenantContext, response: RegistrationResponseJSON, friendlyName = 'Passkey'): Promise<PasskeySummary> {
    const name = parseInput(z.string().trim().min(1).max(100), friendlyName, 'friendlyName');
    const info = await this.ceremony.verifyRegistration(ctx.userId, response);
    const transports = (response.response.transports ?? []).filter((t): t is AuthenticatorTransport =>
      (AUTHENTICATOR_TRANSPORTS as readonly string[]).includes(t),
    );
    try {
      const created = await this.passkeys.register(
        {
          userId: ctx.userId,
          organizationId: ctx.organizationId,
          credentialId: info.credential.id,
          publicKey: info.credential.publicKey,
          signCount: info.credential.counter,
          transports,
          // §6.1 flags BE/BS; the library reports BE as the device type.
          backupEligible: info.credentialDeviceType === 'multiDevice',
          backedUp: info.credentialBackedUp,
          ...(/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(info.aaguid) ? {} : { aaguid: info.aaguid }),
          friendlyName: name,
        },
        [
          {
            eventType: 'auth.passkey.registered',
            organizationId: ctx.organizationId,
            actorUserId: ctx.userId,
            riskScore: 10,
            details: { backupEligible: info.credentialDeviceType === 'multiDevice' },
          },
        ],
      );
      return summary(created);
    } catch (error) {
      if (error instanceof ConflictError && error.constraint === 'passkey_credentials_credential_id_key')
        throw new PasskeyError('already_registered', { cause: error });
      throw error;
    }
  }

  /**
   * The signed-in user's passkeys (no key material), oldest first.
   * @throws TenantAccessError (`own_account`)
   */
  @declareAccess({ ownAccount: true })
  async list(ctx: TenantContext): Promise<readonly PasskeySummary[]> {
    return (await this.passkeys.listForUser(ctx.userId)).map(summary);
  }

  /**
   * Removes one of the signed-in user's passkeys (`auth.passkey.removed` audited in the same transaction).
   * @throws ValidationError naming `passkeyId`; NotFoundError when the user has no such passkey (another user's included)
   */
  @declareAccess({ ownAccount: true })
  async remove(ctx: TenantContext, passkeyId: string): Promise<void> {
    const id = parseInput(uuidInput, passkeyId, 'passkeyId');
    const removed = await this.passkeys.remove(ctx.userId, id, [
      { eventType: 'auth.passkey.removed', organizationId: ctx.organizationId, actorUserId: ctx.userId, riskScore: 20, details: { passkeyId: id } },
    ]);
    if (!removed) throw new NotFoundError('passkey', id);
  }
}
