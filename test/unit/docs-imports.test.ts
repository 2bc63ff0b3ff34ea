import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Every `import … from 'platform-data…'` in a ts code block of the README or docs/ names
// something its entry exports (package.json "exports" → the entry's source file).
const ROOT = new URL('../../', import.meta.url);
const packageJson = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { exports: Record<string, { default: string } | string> };

function entrySource(specifier: string): URL {
  const subpath = specifier === 'platform-data' ? '.' : `./${specifier.slice('platform-data/'.length)}`;
  const target = packageJson.exports[subpath];
  if (typeof target !== 'object') throw new Error(`${specifier} is not an entry of package.json "exports"`);
  return new URL(target.default.replace('./dist/', 'src/').replace(/\.js$/, '.ts'), ROOT);
}

const documents = [
  'README.md',
  ...readdirSync(new URL('docs/', ROOT))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const imports = documents.flatMap((doc) =>
  [...readFileSync(new URL(doc, ROOT), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].flatMap((block) =>
    [...block[1]!.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(platform-data(?:\/[\w-]+)?)'/g)].map((m) => ({
      doc,
      specifier: m[2]!,
      names: m[1]!
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== ''),
    })),
  ),
);

describe('imports in the docs', () => {
  it('exist (the docs show the public entries)', () => {
    expect(imports.length).toBeGreaterThan(0);
  });

  it.each(imports)('$doc imports only what $specifier exports', async ({ specifier, names }) => {
    const url = entrySource(specifier);
    const module = (await import(url.href)) as Record<string, unknown>;
    const source = readFileSync(url, 'utf8');
    for (const name of names) {
      if (name.startsWith('type ')) {
        const type = name.slice('type '.length);
        expect(new RegExp(`\\b${type}\\b`).test(source) || source.includes('export * from'), `${specifier} exports type ${type}`).toBe(true);
      } else {
        expect(module, `${specifier} exports ${name}`).toHaveProperty(name);
      }
    }
  });
});
