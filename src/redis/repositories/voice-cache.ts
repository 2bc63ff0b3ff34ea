import { createHash } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { withRedisErrors } from '../map-redis-error.js';
import { RedisConnection } from '../redis-connection.js';
import { RedisKeys } from '../redis-keys.js';

export interface VoiceRequest {
  readonly text: string;
  readonly voice: string;
  /** e.g. `mp3`, `opus`, `wav-24k`. */
  readonly format: string;
}

/** Default TTL of cached audio: a week (regenerating is costly, keeping it forever is Postgres' and blob storage's job). */
export const VOICE_CACHE_TTL_SECONDS = 7 * 86_400;

/**
 * TTS audio bytes by content hash. Entries are per organization (the tenant
 * boundary holds even for identical text); the metadata (who, when, which
 * hash) lives in Postgres.
 */
@injectable()
export class VoiceCache {
  constructor(
    @inject(RedisConnection) private readonly redis: RedisConnection,
    @inject(RedisKeys) private readonly keys: RedisKeys,
  ) {}

  /** sha256 over an unambiguous encoding of text, voice and format. */
  static contentHash(request: VoiceRequest): string {
    return createHash('sha256')
      .update(JSON.stringify([request.text, request.voice, request.format]), 'utf8')
      .digest('hex');
  }

  /** @throws StoreUnavailableError */
  async get(organizationId: string, contentHash: string): Promise<Buffer | undefined> {
    const bytes = await withRedisErrors(() => this.redis.client.getBuffer(this.keys.voice(organizationId, contentHash)));
    return bytes ?? undefined;
  }

  /** @throws StoreUnavailableError; ValidationError for a malformed hash. */
  async put(organizationId: string, contentHash: string, audio: Buffer, ttlSeconds = VOICE_CACHE_TTL_SECONDS): Promise<void> {
    await withRedisErrors(() => this.redis.client.set(this.keys.voice(organizationId, contentHash), audio, 'EX', ttlSeconds));
  }

  /** Returns cached audio or synthesizes, caches and returns it. */
  async getOrSynthesize(
    organizationId: string,
    request: VoiceRequest,
    synthesize: (request: VoiceRequest) => Promise<Buffer>,
    ttlSeconds = VOICE_CACHE_TTL_SECONDS,
  ): Promise<{ audio: Buffer; contentHash: string; cached: boolean }> {
    const contentHash = VoiceCache.contentHash(request);
    const cached = await this.get(organizationId, contentHash);
    if (cached) return { audio: cached, contentHash, cached: true };
    const audio = await synthesize(request);
    await this.put(organizationId, contentHash, audio, ttlSeconds);
    return { audio, contentHash, cached: false };
  }

  /** @throws StoreUnavailableError */
  async delete(organizationId: string, contentHash: string): Promise<void> {
    await withRedisErrors(() => this.redis.client.del(this.keys.voice(organizationId, contentHash)));
  }
}
