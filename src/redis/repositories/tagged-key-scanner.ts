import { inject, injectable } from 'tsyringe';
import { ValidationError } from '../../errors.js';
import { withRedisErrors } from '../map-redis-error.js';
import { RedisConnection } from '../redis-connection.js';
import { RedisKeys } from '../redis-keys.js';
import { scanKeys, unlinkKeys } from '../scan-keys.js';

/** Whose keys: a user's `{user:<id>}` tag or a tenant's `{org:<id>}` tag (docs/sessions.md, key schema). */
export type KeyTag = { readonly user: string } | { readonly organization: string };

const ID = /^[A-Za-z0-9_.@-]{1,200}$/;
const SCAN_COUNT = 500;

// SCAN's MATCH is a glob: a prefix containing *, ?, [ or \ must not widen the pattern.
function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Finds and deletes every key carrying one user's or one tenant's hash tag,
 * by SCAN (never KEYS: it blocks the server). Used by GDPR erasure and
 * organization deletion: whatever service wrote the key, the tag in the key
 * schema says whose it is, so a new tagged key is covered without changes here.
 *
 * Keys without a tag are not found here by design: the login throttle and IP
 * rate limits hold only hashes and expire within their window.
 */
@injectable()
export class TaggedKeyScanner {
  constructor(
    @inject(RedisConnection) private readonly redis: RedisConnection,
    @inject(RedisKeys) private readonly keys: RedisKeys,
  ) {}

  /** The MATCH pattern for a tag. @throws ValidationError for an id that cannot be in a key */
  pattern(tag: KeyTag): string {
    const [kind, id] = 'user' in tag ? ['user', tag.user] : ['org', tag.organization];
    if (!ID.test(id))
      throw new ValidationError([{ path: kind === 'user' ? 'userId' : 'organizationId', message: 'must be 1-200 characters of A-Z a-z 0-9 _ . @ -' }]);
    return `${escapeGlob(this.keys.prefix)}{${kind}:${id}}:*`;
  }

  /** Every key with the tag (a full SCAN of every master on a cluster; the tag hashes to one slot, so one of them holds them all). @throws StoreUnavailableError */
  async list(tag: KeyTag): Promise<string[]> {
    const match = this.pattern(tag);
    const found = new Set<string>();
    await withRedisErrors(async () => {
      for await (const batch of scanKeys(this.redis.client, match, SCAN_COUNT)) for (const key of batch) found.add(key);
    });
    return [...found].sort();
  }

  /**
   * Deletes every key with the tag (UNLINK: freed in the background). Idempotent.
   * @returns how many keys were removed
   * @throws StoreUnavailableError
   */
  async deleteAll(tag: KeyTag): Promise<number> {
    const keys = await this.list(tag);
    let removed = 0;
    for (let i = 0; i < keys.length; i += SCAN_COUNT) removed += await withRedisErrors(() => unlinkKeys(this.redis.client, keys.slice(i, i + SCAN_COUNT)));
    return removed;
  }
}
