import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layering rules of docs/architecture.md ("Layers and the direction of imports"), checked on every
// relative import of src/ (value and type imports alike, `import()` types included).
const SRC = new URL('../../src/', import.meta.url).pathname;
const STORES = ['postgres', 'mongo', 'qdrant', 'redis'];
/** Root files that wire the folders together; every other root file imports root files only. */
const COMPOSITION_ROOTS = ['index.ts', 'platform.ts', 'platform-options.ts'];

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

const folderOf = (file: string): string => (file.includes('/') ? file.split('/')[0]! : '.');

const edges: Edge[] = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .flatMap((from) => {
    const text = readFileSync(join(SRC, from), 'utf8');
    const found = [
      ...[...text.matchAll(/^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'/gm)].map((m) => ({ spec: m[2]!, typeOnly: m[1] !== undefined })),
      ...[...text.matchAll(/import\('(\.[^']+)'\)/g)].map((m) => ({ spec: m[1]!, typeOnly: true })),
    ];
    return found.map(({ spec, typeOnly }) => ({ from, to: normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts'), typeOnly }));
  });

function violations(rule: (edge: Edge, from: string, to: string) => boolean): string[] {
  return edges.filter((e) => rule(e, folderOf(e.from), folderOf(e.to))).map((e) => `${e.from} → ${relative('.', e.to)}${e.typeOnly ? ' (type)' : ''}`);
}

describe('import boundaries (docs/architecture.md)', () => {
  it('reads the imports of src/', () => {
    expect(edges.length).toBeGreaterThan(500);
    expect(edges.some((e) => e.to.startsWith('..'))).toBe(false);
  });

  it('a store folder never imports another store folder, flows/, cli/ or testing/', () => {
    expect(violations((_, from, to) => STORES.includes(from) && to !== from && !['.', 'security', 'tenancy'].includes(to))).toEqual([]);
  });

  it('security/ and tenancy/ import only root files and their own folder', () => {
    expect(violations((_, from, to) => ['security', 'tenancy'].includes(from) && to !== from && to !== '.')).toEqual([]);
  });

  it('flows/ imports the root, security/, tenancy/ and the store folders, never cli/ or testing/', () => {
    expect(violations((_, from, to) => from === 'flows' && ['cli', 'testing'].includes(to))).toEqual([]);
  });

  it('flows/ never imports a driver: cross-store logic depends on repositories (architecture rule 10)', () => {
    const DRIVERS = /^(?:import|export)\s+(?:type\s+)?[^'";]*?from\s+'(slonik|pg|mongoose|mongodb|ioredis|bullmq|@qdrant\/js-client-rest)'/gm;
    const found = readdirSync(join(SRC, 'flows'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...readFileSync(join(SRC, 'flows', f), 'utf8').matchAll(DRIVERS)].map((m) => `flows/${f} → ${m[1]}`));
    expect(found).toEqual([]);
    // The store folders' connections are drivers too: flows reach data through repositories only.
    expect(violations((_, from, to) => from === 'flows' && to.endsWith('-connection.ts') && STORES.includes(folderOf(to)))).toEqual([]);
  });

  it('the library never imports testing/ (only cli/ does, for the local stack)', () => {
    expect(violations((_, from, to) => to === 'testing' && !['testing', 'cli'].includes(from))).toEqual([]);
  });

  it('nothing imports cli/ but cli/', () => {
    expect(violations((_, from, to) => to === 'cli' && from !== 'cli')).toEqual([]);
  });

  it('no root file imports a folder (type-only imports included), except the composition roots', () => {
    expect(violations((e, from, to) => from === '.' && to !== '.' && !COMPOSITION_ROOTS.includes(e.from))).toEqual([]);
  });
});
