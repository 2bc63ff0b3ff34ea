import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { sql } from 'slonik';
import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { NotFoundError, ValidationError, type StoreName } from '../../errors.js';
import {
  KnowledgeIngestion,
  type IngestDocumentResult,
  type KnowledgeDocumentRef,
  type WaitForIndexingResult,
} from '../../flows/knowledge/knowledge-ingestion.js';
import { KnowledgeSearch } from '../../flows/knowledge/knowledge-search.js';
import { createLogger } from '../../logger.js';
import { createPlatform, type Platform } from '../../platform.js';
import { mapPostgresError } from '../../postgres/map-postgres-error.js';
import { scopedPool } from '../../postgres/with-scope.js';
import { PostgresConnection } from '../../postgres/postgres-connection.js';
import { MEMBERSHIP_ROLES } from '../../tenancy/membership-role.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';
import { EXIT, out, printJson, reportError, table } from '../cli-output.js';

const KNOWLEDGE_EXTENSIONS = new Set(['.md', '.markdown', '.txt']);

interface TenantOptions {
  readonly org: string;
  readonly user?: string;
}

/**
 * The TenantContext the CLI acts under: the given user's membership in the
 * organization, or the organization's first owner. Read from PostgreSQL (the
 * source of truth for memberships) with the owner pool, because there is no
 * tenant yet to scope a row-level-security query with.
 *
 * @throws ValidationError for a malformed id; NotFoundError when the organization (or the user's membership in it) does not exist
 */
export async function cliTenantContext(platform: Platform, options: TenantOptions): Promise<TenantContext> {
  const organizationId = z.uuid().safeParse(options.org);
  if (!organizationId.success) throw new ValidationError([{ path: '--org', message: 'must be an organization id (UUID)' }]);
  const userId = options.user === undefined ? undefined : z.uuid().safeParse(options.user);
  if (userId && !userId.success) throw new ValidationError([{ path: '--user', message: 'must be a user id (UUID)' }]);
  const postgres = platform.resolve(PostgresConnection);
  // Organization scope: row-level security shows this organization's memberships only (no owner credentials needed).
  const row = await scopedPool(postgres.appPool, { organizationId: organizationId.data })
    .maybeOne(
      sql.type(z.object({ user_id: z.string(), role: z.enum(MEMBERSHIP_ROLES) }))`
        SELECT m.user_id, m.role
        FROM memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.organization_id = ${organizationId.data} AND o.deleted_at IS NULL
          ${userId ? sql.fragment`AND m.user_id = ${userId.data}` : sql.fragment`AND m.role = 'owner'`}
        ORDER BY m.created_at, m.id
        LIMIT 1`,
    )
    .catch((error: unknown) => {
      throw mapPostgresError(error, postgres.redactedUrl);
    });
  if (!row) {
    throw new NotFoundError(userId ? `membership of user ${options.user ?? ''} in organization` : 'organization with an owner', options.org);
  }
  return createTenantContext({ organizationId: organizationId.data, userId: row.user_id, role: row.role, scopes: [] });
}

/** What an import will read, and what it found in the folders but will not read. */
export interface KnowledgeFiles {
  /** Every .md/.markdown/.txt file under the folders, and every file named directly; sorted, without duplicates. */
  readonly files: string[];
  /** Files inside the folders with another extension: reported, never dropped silently. */
  readonly skipped: string[];
}

/** The files under `paths` (files taken as given, folders walked recursively). */
export async function collectKnowledgeFiles(paths: readonly string[]): Promise<KnowledgeFiles> {
  const files = new Set<string>();
  const skipped = new Set<string>();
  for (const p of paths) {
    const info = await stat(p).catch(() => undefined);
    if (!info) throw new ValidationError([{ path: p, message: 'no such file or folder' }]);
    if (info.isFile()) {
      files.add(path.resolve(p));
      continue;
    }
    for (const entry of await readdir(p, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.resolve(entry.parentPath, entry.name);
      (KNOWLEDGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase()) ? files : skipped).add(file);
    }
  }
  return { files: [...files].sort(), skipped: [...skipped].filter((f) => !files.has(f)).sort() };
}

/** One line naming the skipped files (the first five, relative to the working directory). */
function skippedLine(skipped: readonly string[]): string {
  const names = skipped.slice(0, 5).map((f) => path.relative(process.cwd(), f));
  const more = skipped.length > names.length ? `, and ${skipped.length - names.length} more` : '';
  return `skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'} that ${skipped.length === 1 ? 'is' : 'are'} not .md/.markdown/.txt: ${names.join(', ')}${more}`;
}

/** A Markdown file's first `# heading`, else the file name without extension. */
export function knowledgeTitle(file: string, content: string): string {
  const heading = /^#\s+(.+?)\s*#*\s*$/m.exec(content);
  return heading?.[1] ?? path.basename(file, path.extname(file));
}

function progressBar(enabled: boolean): cliProgress.SingleBar | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  return new cliProgress.SingleBar(
    { stream: process.stderr, format: '{stage} |{bar}| {value}/{total}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
}

/** Runs an in-process ingestion worker until `refs` are indexed (or failed for good, or the timeout passes). */
async function indexInProcess(
  platform: Platform,
  ctx: TenantContext,
  refs: readonly KnowledgeDocumentRef[],
  timeoutMs: number,
  bar: cliProgress.SingleBar | undefined,
): Promise<WaitForIndexingResult> {
  const ingestion = platform.resolve(KnowledgeIngestion);
  const worker = await ingestion.startIngestionWorker({ concurrency: 2 });
  try {
    bar?.start(refs.length, 0, { stage: 'indexing' });
    return await ingestion.waitForIndexing(ctx, refs, { timeoutMs, onProgress: (settled) => bar?.update(settled) });
  } finally {
    bar?.stop();
    await worker.close();
  }
}

function indexingSummary(waited: WaitForIndexingResult): string[] {
  const chunks = waited.indexed.reduce((n, d) => n + d.chunkCount, 0);
  return [
    `indexed ${waited.indexed.length} (${chunks} chunks), failed ${waited.failed.length}, still pending ${waited.unsettled.length}`,
    ...waited.failed.map((d) => `  failed: ${d.source}: ${d.error ?? ''}`),
    ...waited.unsettled.map((d) => `  pending: ${d.source} (${d.status}${d.error ? `: ${d.error}` : ''}) — a worker will finish it`),
  ];
}

function parseTimeout(value: string): number {
  const ms = Number(value) * 1000;
  if (!Number.isFinite(ms) || ms <= 0) throw new ValidationError([{ path: '--timeout', message: `must be a positive number of seconds, got "${value}"` }]);
  return ms;
}

async function withPlatform(stores: readonly StoreName[], body: (platform: Platform) => Promise<number>): Promise<void> {
  try {
    await using platform = createPlatform(loadConfig(process.env), { stores, logger: createLogger('silent') });
    await platform.start();
    process.exitCode = await body(platform);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

/**
 * `platform-data knowledge import|search|reindex`: load files into an
 * organization's knowledge (indexed by an in-process worker), search it, or
 * index it again. Exit 0 on success, 1 when a document failed or a store is
 * unreachable, 2 for bad configuration.
 */
export function registerKnowledgeCommand(program: Command): void {
  const knowledge = program.command('knowledge').description("import, search and reindex an organization's knowledge documents");

  knowledge
    .command('import')
    .description('import .md/.txt files or folders into an organization and index them (a worker runs in this process until done)')
    .argument('<path...>', 'files or folders')
    .requiredOption('--org <id>', 'organization id')
    .option('--user <id>', "act as this member (default: the organization's first owner)")
    .option('--timeout <seconds>', 'how long to wait for indexing', '300')
    .option('--json', 'print JSON')
    .action(async (paths: string[], options: TenantOptions & { timeout: string; json?: boolean }) => {
      await withPlatform(['postgres', 'mongo', 'qdrant', 'redis'], async (platform) => {
        const timeoutMs = parseTimeout(options.timeout);
        const { files, skipped } = await collectKnowledgeFiles(paths);
        if (skipped.length > 0 && !options.json) process.stderr.write(`${skippedLine(skipped)}\n`);
        if (files.length === 0) throw new ValidationError([{ path: 'path', message: 'no .md, .markdown or .txt files found' }]);
        const ctx = await cliTenantContext(platform, options);
        const ingestion = platform.resolve(KnowledgeIngestion);
        const bar = progressBar(!options.json);
        const results: IngestDocumentResult[] = [];
        bar?.start(files.length, 0, { stage: 'storing ' });
        try {
          for (const file of files) {
            const content = await readFile(file, 'utf8');
            // The path relative to the working directory names the source, so importing the same tree again updates instead of duplicating.
            const source = path.relative(process.cwd(), file).split(path.sep).join('/');
            results.push(await ingestion.ingestDocument(ctx, { source, title: knowledgeTitle(file, content), content }));
            bar?.increment();
          }
        } finally {
          bar?.stop();
        }
        const toIndex = results.filter((r) => r.jobId !== undefined).map((r) => ({ id: r.document.id, version: r.document.version }));
        const waited = await indexInProcess(platform, ctx, toIndex, timeoutMs, progressBar(!options.json));
        const counts = {
          files: files.length,
          skipped: skipped.length,
          created: results.filter((r) => r.created).length,
          updated: results.filter((r) => !r.created && r.changed).length,
          unchanged: results.filter((r) => !r.changed).length,
          indexed: waited.indexed.length,
          failed: waited.failed.length,
          pending: waited.unsettled.length,
          chunks: waited.indexed.reduce((n, d) => n + d.chunkCount, 0),
        };
        if (options.json) {
          printJson({
            ...counts,
            documents: results.map((r) => ({
              id: r.document.id,
              source: r.document.source,
              title: r.document.title,
              version: r.document.version,
              changed: r.changed,
            })),
            skippedFiles: skipped.map((f) => path.relative(process.cwd(), f).split(path.sep).join('/')),
            errors: waited.failed.map((d) => ({ id: d.id, source: d.source, error: d.error })),
          });
        } else {
          out(`imported ${counts.files} file${counts.files === 1 ? '' : 's'}: ${counts.created} new, ${counts.updated} updated, ${counts.unchanged} unchanged`);
          for (const line of indexingSummary(waited)) out(line);
        }
        return counts.failed + counts.pending === 0 ? EXIT.ok : EXIT.failed;
      });
    });

  knowledge
    .command('search')
    .description("semantic search in an organization's knowledge")
    .argument('<query>', 'what to look for')
    .requiredOption('--org <id>', 'organization id')
    .option('--user <id>', "search as this member (default: the organization's first owner)")
    .option('--limit <n>', 'how many passages', '5')
    .option('--json', 'print JSON')
    .action(async (query: string, options: TenantOptions & { limit: string; json?: boolean }) => {
      await withPlatform(['postgres', 'mongo', 'qdrant'], async (platform) => {
        const ctx = await cliTenantContext(platform, options);
        const hits = await platform.resolve(KnowledgeSearch).semanticSearch(ctx, query, { limit: Number(options.limit) });
        if (options.json) printJson(hits);
        else if (hits.length === 0) out('no matching passages');
        else {
          out(
            table(
              ['score', 'title', 'chunk', 'text'],
              hits.map((h) => [
                h.score.toFixed(3),
                h.title,
                String(h.chunkOrdinal),
                `${h.text.replace(/\s+/g, ' ').slice(0, 90)}${h.text.length > 90 ? '…' : ''}`,
              ]),
            ),
          );
        }
        return EXIT.ok;
      });
    });

  knowledge
    .command('reindex')
    .description('chunk and embed every document of an organization again (after changing the splitter or the embedding model)')
    .requiredOption('--org <id>', 'organization id')
    .option('--user <id>', "act as this member (default: the organization's first owner)")
    .option('--timeout <seconds>', 'how long to wait for indexing', '600')
    .option('--json', 'print JSON')
    .action(async (options: TenantOptions & { timeout: string; json?: boolean }) => {
      await withPlatform(['postgres', 'mongo', 'qdrant', 'redis'], async (platform) => {
        const timeoutMs = parseTimeout(options.timeout);
        const ctx = await cliTenantContext(platform, options);
        const run = await platform.resolve(KnowledgeIngestion).reindex(ctx, Date.now().toString(36));
        const waited = await indexInProcess(platform, ctx, run.documents, timeoutMs, progressBar(!options.json));
        if (options.json) {
          printJson({
            documents: run.documents.length,
            indexed: waited.indexed.length,
            failed: waited.failed.map((d) => ({ id: d.id, source: d.source, error: d.error })),
            pending: waited.unsettled.length,
          });
        } else {
          out(`reindexing ${run.documents.length} document${run.documents.length === 1 ? '' : 's'}`);
          for (const line of indexingSummary(waited)) out(line);
        }
        return waited.failed.length + waited.unsettled.length === 0 ? EXIT.ok : EXIT.failed;
      });
    });
}
