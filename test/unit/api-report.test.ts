import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { committedReports, currentReports, type ApiReports } from '../../scripts/api-report.js';

// The public surface is reviewed as a diff of api/*.api.md (docs/architecture.md, "Public API").
describe('API report', () => {
  let current: ApiReports;
  beforeAll(() => {
    current = currentReports();
  });

  it('matches the committed reports in api/ (run npm run api:report and review the diff)', () => {
    const committed = committedReports();
    expect([...current.reports.keys()].sort()).toEqual([...committed.keys()].sort());
    for (const [file, content] of current.reports) expect(content, file).toBe(committed.get(file));
  });

  it('exports every type a caller receives: only values behind an exported `typeof` type stay unexported', () => {
    const unexportedTypes = current.surfaces.flatMap((s) =>
      s.internal.filter((i) => !i.onlyTypeof || i.kind !== 'const').map((i) => `${s.subpath}: ${i.kind} ${i.name} (reached from ${i.referencedBy.join(', ')})`),
    );
    expect(unexportedTypes).toEqual([]);
  });

  it('keeps internals out of every entry (the CLI and the docs scripts import them by module path)', () => {
    const exported = new Set(current.surfaces.flatMap((s) => [...s.exported.keys()]));
    for (const name of [
      'renderScriptsMarkdown',
      'renderKeySchemaMarkdown',
      'slugFor',
      'ageInYears',
      'INGESTION_WORKER_USER_ID',
      'registerPostgres',
      'withMongoErrors',
      'withQdrantErrors',
      'withPostgresErrors',
    ]) {
      expect(exported.has(name), name).toBe(false);
    }
  });

  it('has each name in one entry only, so an import path is never a matter of taste', () => {
    const seen = new Map<string, string>();
    const twice: string[] = [];
    for (const s of current.surfaces) {
      for (const name of s.exported.keys()) {
        if (seen.has(name)) twice.push(`${name}: ${seen.get(name)} and ${s.subpath}`);
        seen.set(name, s.subpath);
      }
    }
    expect(twice).toEqual([]);
  });
});

describe('DI tokens', () => {
  it('are all declared in src/tokens.ts', () => {
    const src = new URL('../../src/', import.meta.url).pathname;
    const elsewhere = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && f !== 'tokens.ts')
      .filter((f) => /export const \w+\s*:\s*InjectionToken</.test(readFileSync(join(src, f), 'utf8')));
    expect(elsewhere).toEqual([]);
  });
});
