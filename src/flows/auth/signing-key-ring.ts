import { randomBytes } from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import { inject, injectable } from 'tsyringe';
import type { Config } from '../../config.js';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { SigningKeyRepository, type NewSigningKey, type SigningAlgorithm, type StoredSigningKey } from '../../postgres/repositories/signing-key-repository.js';
import { SecretBox } from '../../security/secret-box.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';
import { CONFIG, LOGGER, SIGNING_KEY_OPTIONS } from '../../tokens.js';
import type { SigningKeyOptions } from '../../signing-key-options.js';

/** One public key of the JWKS (RFC 7517 §4): never a private member. */
export interface PublicJwk {
  readonly kty: string;
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly use: 'sig';
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
}

/** A JSON Web Key Set (RFC 7517 §5), what `/.well-known/jwks.json` serves. */
export interface JsonWebKeySet {
  readonly keys: readonly PublicJwk[];
}

/** The key a token is signed with. */
export interface ActiveSigningKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly privateKey: CryptoKey;
}

/** A key that verifies: active, or retired and published until `publishUntil`. */
export interface VerificationKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly publicKey: CryptoKey;
  readonly publishUntil: Date | null;
}

interface Loaded {
  readonly at: number;
  readonly keys: ReadonlyMap<string, StoredSigningKey>;
  readonly active: StoredSigningKey | undefined;
}

/** Verifications of unknown `kid`s read the ring at most this often (random kids cannot hammer PostgreSQL). */
const UNKNOWN_KID_RELOAD_MS = 1_000;

const aad = (kid: string): string => `signing_keys:${kid}:private_key`;

/**
 * The access-token signing keys as this process uses them: generation
 * (`jose`, extractable only long enough to export), private keys encrypted at
 * rest with the {@link SecretBox} key ring, rotation, and the public JWKS.
 *
 * The ring is read from PostgreSQL at most every `cacheSeconds`; a key retired
 * by another process may therefore sign here for up to that long, which is why
 * a retired key stays published for the access-token lifetime + `cacheSeconds`
 * + the clock tolerance (see {@link publishRetiredForSeconds}).
 */
@injectable()
@accessControlled
export class SigningKeyRing {
  #loaded: Loaded | undefined;
  #loading: Promise<Loaded> | undefined;
  #scheduled: Promise<Loaded> | undefined;
  #lastLoadStart = Number.NEGATIVE_INFINITY;
  readonly #privateKeys = new Map<string, Promise<CryptoKey>>();
  readonly #publicKeys = new Map<string, Promise<CryptoKey>>();

  constructor(
    @inject(SigningKeyRepository) private readonly repository: SigningKeyRepository,
    @inject(SecretBox) private readonly box: SecretBox,
    @inject(SIGNING_KEY_OPTIONS) private readonly options: SigningKeyOptions,
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** How long a retired key stays in the JWKS: the longest a token it signed may still verify. */
  get publishRetiredForSeconds(): number {
    return this.config.auth.accessTokenTtlSeconds + this.options.cacheSeconds + this.options.clockToleranceSeconds;
  }

  /**
   * The key to sign with now; creates the first key, and rotates one older
   * than `rotateAfterSeconds` (one process does, under the repository's lock).
   * @throws StoreUnavailableError; CryptoError when the stored private key does not decrypt (wrong key ring)
   */
  @declareAccess({ preTenant: 'signing the access token of a session the caller just authenticated' })
  async activeKey(): Promise<ActiveSigningKey> {
    let loaded = await this.#current();
    const active = loaded.active;
    if (!active || Date.now() - active.createdAt.getTime() >= this.options.rotateAfterSeconds * 1000) {
      await this.#rotate(this.options.rotateAfterSeconds);
      loaded = await this.#load();
    }
    const key = loaded.active;
    if (!key) throw new PlatformError('RESULT_INVALID', 'signing_keys holds no active key after a rotation');
    return { kid: key.kid, algorithm: key.algorithm, privateKey: await this.#privateKey(key) };
  }

  /**
   * The published key with this `kid`, or undefined (unknown, or its publication ended).
   * @throws StoreUnavailableError
   */
  @declareAccess({ preTenant: 'token verification: the bearer is not known until the token verifies' })
  async verificationKey(kid: string): Promise<VerificationKey | undefined> {
    let loaded = await this.#current();
    // A kid this process has not seen may be another process's new key: read the ring again, with a
    // read that starts after this call did (so a key committed before the token was signed is seen).
    if (!loaded.keys.has(kid)) loaded = await this.#reloadSoon();
    const stored = loaded.keys.get(kid);
    if (!stored || (stored.publishUntil !== null && stored.publishUntil.getTime() <= Date.now())) return undefined;
    return { kid, algorithm: stored.algorithm, publicKey: await this.#publicKey(stored), publishUntil: stored.publishUntil };
  }

  /**
   * The public JWKS: the active key and every retired key still published, newest first.
   * @throws StoreUnavailableError
   */
  @declareAccess({ preTenant: 'public keys: RFC 7517 key sets are served to anyone' })
  async jwks(): Promise<JsonWebKeySet> {
    const loaded = await this.#current();
    const now = Date.now();
    const keys = [...loaded.keys.values()].filter((k) => k.publishUntil === null || k.publishUntil.getTime() > now).map(toPublicJwk);
    return { keys };
  }

  /**
   * Replaces the active key now (a suspected compromise, or a scheduled rotation
   * run by the application's job). The previous key keeps verifying the tokens
   * it signed for {@link publishRetiredForSeconds}.
   * @param minAgeSeconds keep an active key younger than this (several processes asked at once); default 0
   * @returns the `kid` of the active key afterwards
   * @throws StoreUnavailableError
   */
  @declareAccess({ systemJob: "key rotation is the platform's own machinery" })
  async rotate(minAgeSeconds = 0): Promise<string> {
    const kid = await this.#rotate(minAgeSeconds);
    await this.#load();
    return kid;
  }

  async #rotate(minAgeSeconds: number): Promise<string> {
    const { key, created } = await this.repository.rotate({ minAgeSeconds, publishRetiredForSeconds: this.publishRetiredForSeconds }, () => this.#generate());
    if (created) this.logger.info('access-token signing key rotated', { kid: key.kid, algorithm: key.algorithm });
    return key.kid;
  }

  async #generate(): Promise<NewSigningKey> {
    const algorithm = this.options.algorithm;
    // Extractable, so the PKCS#8 form can be encrypted and stored; the CryptoKey itself is dropped.
    const pair = await generateKeyPair(algorithm, { extractable: true, ...(algorithm === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
    const kid = randomBytes(16).toString('base64url');
    const { kty, crv, x, y } = await exportJWK(pair.publicKey);
    const pkcs8 = await exportPKCS8(pair.privateKey);
    return {
      kid,
      algorithm,
      publicJwk: { kty, crv, x, ...(y === undefined ? {} : { y }) },
      privateKey: this.box.encrypt(pkcs8, aad(kid)),
    };
  }

  async #current(): Promise<Loaded> {
    const loaded = this.#loaded;
    if (loaded && Date.now() - loaded.at < this.options.cacheSeconds * 1000) return loaded;
    return this.#reload();
  }

  /** A cache refresh: one read at a time per process; concurrent callers share it. */
  async #reload(): Promise<Loaded> {
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  /**
   * A read that starts after this call, at most one per {@link UNKNOWN_KID_RELOAD_MS} (random kids
   * cannot hammer PostgreSQL; a caller waits at most that long). Callers arriving before the read
   * starts share it.
   */
  async #reloadSoon(): Promise<Loaded> {
    this.#scheduled ??= (async () => {
      const wait = this.#lastLoadStart + UNKNOWN_KID_RELOAD_MS - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref());
      // Callers from now on arrive after the read started: they schedule the next one.
      this.#scheduled = undefined;
      return this.#load();
    })();
    return this.#scheduled;
  }

  async #load(): Promise<Loaded> {
    this.#lastLoadStart = performance.now();
    const rows = await this.repository.published();
    const loaded = { at: Date.now(), keys: new Map(rows.map((r) => [r.kid, r])), active: rows.find((r) => r.retiredAt === null) };
    this.#loaded = loaded;
    return loaded;
  }

  #privateKey(key: StoredSigningKey): Promise<CryptoKey> {
    let found = this.#privateKeys.get(key.kid);
    if (!found) {
      found = (async () => importPKCS8(this.box.decryptString(key.privateKey, aad(key.kid)), key.algorithm))();
      this.#privateKeys.set(key.kid, found);
      found.catch(() => this.#privateKeys.delete(key.kid));
    }
    return found;
  }

  #publicKey(key: StoredSigningKey): Promise<CryptoKey> {
    let found = this.#publicKeys.get(key.kid);
    if (!found) {
      found = importJWK(key.publicJwk as JWK, key.algorithm) as Promise<CryptoKey>;
      this.#publicKeys.set(key.kid, found);
      found.catch(() => this.#publicKeys.delete(key.kid));
    }
    return found;
  }
}

function toPublicJwk(key: StoredSigningKey): PublicJwk {
  const j = key.publicJwk as { kty: string; crv?: string; x?: string; y?: string };
  // Only the public members, whatever the stored document holds (RFC 7517 §9.2: never publish a private key).
  return {
    kty: j.kty,
    ...(j.crv === undefined ? {} : { crv: j.crv }),
    ...(j.x === undefined ? {} : { x: j.x }),
    ...(j.y === undefined ? {} : { y: j.y }),
    kid: key.kid,
    alg: key.algorithm,
    use: 'sig',
  };
}
