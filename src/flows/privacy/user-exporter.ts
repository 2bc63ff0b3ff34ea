import { inject, injectable } from 'tsyringe';
import { NotFoundError } from '../../errors.js';
import { AnalyticsRepository } from '../../mongo/repositories/analytics-repository.js';
import { ConversationRepository } from '../../mongo/repositories/conversation-repository.js';
import { MessageRepository } from '../../mongo/repositories/message-repository.js';
import { parseInput, uuidInput } from '../../parse-input.js';
import { SubjectDataRepository } from '../../postgres/repositories/subject-data-repository.js';
import { TaggedKeyScanner } from '../../redis/repositories/tagged-key-scanner.js';
import { AdminScope } from '../../tenancy/admin-scope.js';
import { accessControlled, declareAccess } from '../../tenancy/declare-access.js';

/** One line of an export: what it is, which store it came from, and the item. */
export interface ExportLine {
  readonly kind: string;
  readonly store: 'postgres' | 'mongo' | 'qdrant' | 'redis';
  readonly data: Readonly<Record<string, unknown>>;
}

/** The last line: counts per kind, so a reader can check the file is complete. */
export interface ExportManifest {
  readonly kind: 'manifest';
  readonly userId: string;
  readonly generatedAt: string;
  readonly counts: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
}

/**
 * GDPR export (right of access / portability) of one user from all four
 * stores, as JSON lines: PostgreSQL rows (profile, memberships, identities,
 * sessions, integrations, API keys they created, MFA status, persona
 * preferences, consent history, audit events naming them), MongoDB
 * (conversations, messages, analytics), Redis (which per-user keys exist —
 * kind and no values: they are caches of the Postgres rows above), then a
 * manifest with counts per kind.
 *
 * No secrets: no password or token hashes, no encrypted provider/integration
 * tokens, no TOTP secret or recovery codes, no access-token ids (the
 * repositories' export queries never select them).
 */
@injectable()
@accessControlled
export class UserExporter {
  constructor(
    @inject(SubjectDataRepository) private readonly subjects: SubjectDataRepository,
    @inject(ConversationRepository) private readonly conversations: ConversationRepository,
    @inject(MessageRepository) private readonly messages: MessageRepository,
    @inject(AnalyticsRepository) private readonly analytics: AnalyticsRepository,
    @inject(TaggedKeyScanner) private readonly taggedKeys: TaggedKeyScanner,
  ) {}

  /**
   * Streams the export as JSON lines (each string is one line, without the newline).
   * @throws ValidationError naming `userId`; NotFoundError when no profile exists (erased or never created)
   */
  @declareAccess({ systemJob: "operator action of the application, not a tenant's (GDPR export)" })
  async *exportUser(userId: string, options: { requestedBy?: string } = {}): AsyncGenerator<string> {
    const id = parseInput(uuidInput, userId, 'userId');
    const scope = AdminScope.create({ actor: options.requestedBy ?? 'export', reason: 'GDPR export' });
    const counts: Record<string, number> = {};
    const line = (l: ExportLine): string => {
      counts[l.kind] = (counts[l.kind] ?? 0) + 1;
      return JSON.stringify(l);
    };

    const rows = await this.subjects.exportUser(scope, id);
    if (!rows.some((r) => r.kind === 'profile')) throw new NotFoundError('user', id);
    for (const row of rows) yield line({ kind: row.kind, store: 'postgres', data: row.data });

    for await (const c of this.conversations.listAllForUser(scope, id)) yield line({ kind: 'conversation', store: 'mongo', data: { ...c } });
    for await (const m of this.messages.listAllForUser(scope, id)) yield line({ kind: 'message', store: 'mongo', data: { ...m } });
    for await (const e of this.analytics.listAllForUser(scope, id)) yield line({ kind: 'analytics_event', store: 'mongo', data: { ...e } });

    // Key kinds only: the values are caches of rows exported above, and some key names carry token ids.
    const tag = `{user:${id}}:`;
    for (const key of await this.taggedKeys.list({ user: id })) {
      const rest = key.slice(key.indexOf(tag) + tag.length);
      yield line({ kind: 'redis_key', store: 'redis', data: { type: rest.split(':')[0] ?? 'unknown' } });
    }

    const manifest: ExportManifest = {
      kind: 'manifest',
      userId: id,
      generatedAt: new Date().toISOString(),
      counts,
      notes: ['qdrant: no per-user data (knowledge embeddings belong to the organization, see docs/privacy.md)'],
    };
    yield JSON.stringify(manifest);
  }
}
