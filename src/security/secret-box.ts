import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { EncryptionKey } from '../config.js';
import { ConfigError, CryptoError, ValidationError } from '../errors.js';
import { CONFIG } from '../tokens.js';

/** Envelope format version written by {@link SecretBox.encrypt}. */
export const SECRET_BOX_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** The part of `Config` the box reads; a full `Config` satisfies it. */
export interface SecretBoxConfig {
  readonly encryption: { readonly keys: readonly EncryptionKey[]; readonly activeKeyId: string };
}

/**
 * AES-256-GCM encryption of secrets at rest (OAuth and integration tokens, TOTP secrets)
 * with a key ring, so keys can rotate without a flag day.
 *
 * Envelope (one `bytea`):
 * ```
 * offset 0      1 byte   version (0x01)
 * offset 1      1 byte   key id length L (1..32)
 * offset 2      L bytes  key id, ASCII [A-Za-z0-9_-]
 * offset 2+L    12 bytes IV (random per encryption)
 * offset 14+L   n bytes  ciphertext (n = plaintext length)
 * last          16 bytes GCM tag
 * ```
 * The GCM additional data is the header (bytes 0..2+L) followed by the caller's AAD
 * (UTF-8), e.g. `identities:<id>:access_token`. The header is length-prefixed, so the
 * concatenation is unambiguous; binding it means a header edit fails authentication,
 * and binding the row/column AAD means a ciphertext copied to another row or column does too.
 *
 * @example
 * const box = new SecretBox(config);
 * const stored = box.encrypt(accessToken, `identities:${id}:access_token`);
 * const token = box.decryptString(stored, `identities:${id}:access_token`);
 */
@injectable()
export class SecretBox {
  readonly #keys: ReadonlyMap<string, KeyObject>;
  readonly #activeKeyId: string;

  /** @throws ConfigError when the ring is empty, a key is not 32 bytes, an id is malformed or the active id is missing. */
  constructor(@inject(CONFIG) config: SecretBoxConfig) {
    const keys = new Map<string, KeyObject>();
    const issues: { path: string; message: string }[] = [];
    for (const { id, key } of config.encryption.keys) {
      const material = key.reveal();
      if (!KEY_ID.test(id)) issues.push({ path: 'encryption.keys', message: `key id "${id}" must match ${KEY_ID.source}` });
      else if (material.length !== KEY_BYTES) issues.push({ path: 'encryption.keys', message: `key "${id}" must be ${KEY_BYTES} bytes` });
      else if (keys.has(id)) issues.push({ path: 'encryption.keys', message: `key id "${id}" appears twice` });
      else keys.set(id, createSecretKey(material));
    }
    if (!keys.has(config.encryption.activeKeyId)) {
      issues.push({ path: 'encryption.activeKeyId', message: `no key with id "${config.encryption.activeKeyId}" in the ring` });
    }
    if (issues.length > 0) throw new ConfigError(issues);
    this.#keys = keys;
    this.#activeKeyId = config.encryption.activeKeyId;
  }

  /** Id of the key new envelopes are encrypted with. */
  get activeKeyId(): string {
    return this.#activeKeyId;
  }

  /**
   * Encrypts with the active key, binding the envelope to `aad`.
   * @throws ValidationError naming `aad` when it is empty.
   */
  encrypt(plaintext: string | Uint8Array, aad: string): Buffer {
    const associated = requireAad(aad);
    const header = headerFor(this.#activeKeyId);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key(this.#activeKeyId), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.concat([header, associated]));
    const body = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
    return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
  }

  /**
   * Decrypts an envelope with the key it names.
   * @throws ValidationError naming `aad` when it is empty.
   * @throws CryptoError when the envelope is malformed, names a key not in the ring, or does not
   *   authenticate (tampered, wrong AAD). Messages carry neither plaintext nor key material.
   */
  decrypt(envelope: Uint8Array, aad: string): Buffer {
    const associated = requireAad(aad);
    const { keyId, header, iv, body, tag } = parseEnvelope(envelope);
    const decipher = createDecipheriv('aes-256-gcm', this.#key(keyId), iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.concat([header, associated]));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      // The driver's error adds nothing and must not tempt anyone to log inputs alongside it.
      throw new CryptoError('Encrypted value does not authenticate (tampered, or bound to another row/column)');
    }
  }

  /**
   * {@link decrypt} decoded as UTF-8.
   * @throws ValidationError / CryptoError as {@link decrypt}.
   */
  decryptString(envelope: Uint8Array, aad: string): string {
    return this.decrypt(envelope, aad).toString('utf8');
  }

  /**
   * The id of the key an envelope was encrypted with.
   * @throws CryptoError when the envelope is malformed.
   */
  keyIdOf(envelope: Uint8Array): string {
    return parseEnvelope(envelope).keyId;
  }

  /**
   * True when the envelope is not encrypted with the active key, i.e. a rotation job
   * should {@link reencrypt} it.
   * @throws CryptoError when the envelope is malformed.
   */
  needsReencrypt(envelope: Uint8Array): boolean {
    return parseEnvelope(envelope).keyId !== this.#activeKeyId;
  }

  /**
   * Re-encrypts an envelope under the active key with a fresh IV. Returns the input unchanged
   * when it already uses the active key, so a rotation job can skip the write.
   * @throws ValidationError / CryptoError as {@link decrypt}.
   */
  reencrypt(envelope: Uint8Array, aad: string): Buffer {
    // Authenticate first even when no rewrite is needed: a job must not bless a tampered row.
    const plaintext = this.decrypt(envelope, aad);
    try {
      if (!this.needsReencrypt(envelope)) return Buffer.from(envelope);
      return this.encrypt(plaintext, aad);
    } finally {
      plaintext.fill(0);
    }
  }

  #key(id: string): KeyObject {
    const key = this.#keys.get(id);
    // Naming the id is safe (it is public) and tells an operator which key to put back in the ring.
    if (!key) throw new CryptoError(`Encrypted value uses key "${id}", which is not in the key ring`);
    return key;
  }
}

function requireAad(aad: string): Buffer {
  if (aad.length === 0) {
    throw new ValidationError([{ path: 'aad', message: 'must name the row and column the value belongs to' }]);
  }
  return Buffer.from(aad, 'utf8');
}

function headerFor(keyId: string): Buffer {
  const id = Buffer.from(keyId, 'ascii');
  return Buffer.concat([Buffer.from([SECRET_BOX_VERSION, id.length]), id]);
}

interface ParsedEnvelope {
  readonly keyId: string;
  readonly header: Buffer;
  readonly iv: Buffer;
  readonly body: Buffer;
  readonly tag: Buffer;
}

function parseEnvelope(input: Uint8Array): ParsedEnvelope {
  const envelope = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const version = envelope[0];
  const idLength = envelope[1];
  if (version === undefined || idLength === undefined) throw new CryptoError('Encrypted value is truncated');
  if (version !== SECRET_BOX_VERSION) throw new CryptoError(`Encrypted value has unknown format version ${version}`);
  const headerEnd = 2 + idLength;
  if (idLength === 0 || envelope.length < headerEnd + IV_BYTES + TAG_BYTES) {
    throw new CryptoError('Encrypted value is truncated');
  }
  const keyId = envelope.subarray(2, headerEnd).toString('ascii');
  if (!KEY_ID.test(keyId)) throw new CryptoError('Encrypted value has a malformed key id');
  return {
    keyId,
    header: envelope.subarray(0, headerEnd),
    iv: envelope.subarray(headerEnd, headerEnd + IV_BYTES),
    body: envelope.subarray(headerEnd + IV_BYTES, envelope.length - TAG_BYTES),
    tag: envelope.subarray(envelope.length - TAG_BYTES),
  };
}
