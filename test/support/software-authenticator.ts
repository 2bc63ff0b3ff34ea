import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/*
 * A software WebAuthn authenticator for tests: a P-256 key from node:crypto,
 * responses built byte for byte as the WebAuthn Level 2 recommendation lays them out —
 *   §6.1 authenticator data: rpIdHash (32) ‖ flags (1) ‖ signCount (4, big-endian) ‖ attestedCredentialData;
 *   §6.5.1 attested credential data: aaguid (16) ‖ credentialIdLength (2) ‖ credentialId ‖ COSE_Key;
 *   §6.5.1.1 / RFC 9053 §7.1.1: EC2 COSE_Key {1: 2 (kty EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y};
 *   §6.5.4 attestation object: CBOR {fmt, attStmt, authData}; §8.7 `none` attestation: attStmt = {};
 *   §5.8.1 client data: JSON {type, challenge, origin, crossOrigin};
 *   §6.3.3 step 11 / §7.2 step 20: the assertion signs authData ‖ SHA-256(clientDataJSON); ES256 → ASN.1 DER ECDSA (§6.5.5 "Signature Formats for Packed Attestation, FIDO U2F Attestation, and Assertion Signatures").
 */

export const FLAG_UP = 0x01;
export const FLAG_UV = 0x04;
export const FLAG_BE = 0x08;
export const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();
const b64url = (data: Uint8Array): string => Buffer.from(data).toString('base64url');

function counterBytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export interface AuthenticatorOptions {
  readonly rpId: string;
  readonly origin: string;
  /** Flags to set besides UP (default UV | BE | BS: a synced passkey that verified its user). */
  readonly flags?: number;
}

export class SoftwareAuthenticator {
  readonly credentialId = randomBytes(32);
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  /** The signature counter the next assertion will carry (set it to replay or regress). */
  counter = 0;
  userHandle: string | undefined;

  constructor(private readonly options: AuthenticatorOptions) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
  }

  get id(): string {
    return b64url(this.credentialId);
  }

  #flags(extra = 0): number {
    return FLAG_UP | (this.options.flags ?? FLAG_UV | FLAG_BE | FLAG_BS) | extra;
  }

  #clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin = this.options.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** A RegistrationResponseJSON answering creation options `{ challenge, user: { id } }`. */
  register(options: { challenge: string; user: { id: string } }, overrides: { origin?: string } = {}) {
    this.userHandle = options.user.id;
    const jwk = this.#publicKey.export({ format: 'jwk' });
    const coseKey = new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]);
    const credentialIdLength = Buffer.alloc(2);
    credentialIdLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      sha256(this.options.rpId),
      Buffer.from([this.#flags(FLAG_AT)]),
      counterBytes(this.counter),
      Buffer.alloc(16), // aaguid: zeros, as a `none` attestation may report (§6.5.1)
      credentialIdLength,
      this.credentialId,
      Buffer.from(isoCBOR.encode(coseKey)),
    ]);
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]) as never,
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(this.#clientData('webauthn.create', options.challenge, overrides.origin)),
        attestationObject: b64url(attestationObject),
        transports: ['internal', 'hybrid'] as ('internal' | 'hybrid')[],
      },
    };
  }

  /** An AuthenticationResponseJSON answering request options `{ challenge }`; the counter advances first unless `counter` is given. */
  assert(options: { challenge: string }, overrides: { origin?: string; counter?: number; tamper?: boolean } = {}) {
    if (overrides.counter === undefined) this.counter += 1;
    const counter = overrides.counter ?? this.counter;
    const authData = Buffer.concat([sha256(this.options.rpId), Buffer.from([this.#flags()]), counterBytes(counter)]);
    const clientDataJSON = this.#clientData('webauthn.get', options.challenge, overrides.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.#privateKey);
    if (overrides.tamper === true) signature.writeUInt8(signature.readUInt8(signature.length - 1) ^ 0x01, signature.length - 1);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(this.userHandle === undefined ? {} : { userHandle: this.userHandle }),
      },
    };
  }
}
