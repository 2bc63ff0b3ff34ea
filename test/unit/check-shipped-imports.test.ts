import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importsOf, packageOf, shippedImportProblems } from '../../scripts/check-shipped-imports.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('check-shipped-imports', () => {
  it('names the package of a bare specifier, not relative or builtin ones', () => {
    expect(packageOf('@testcontainers/redis')).toBe('@testcontainers/redis');
    expect(packageOf('mingo/util')).toBe('mingo');
    expect(packageOf('./x.js')).toBeUndefined();
    expect(packageOf('node:fs')).toBeUndefined();
    expect(packageOf('fs')).toBeUndefined();
  });

  it('finds static, re-export and dynamic imports but not ones in comments', () => {
    const code = `import a from 'a';\nexport { b } from '@s/b';\nimport 'c';\n/** @example await import('doc-only') */\nconst d = await import('d');`;
    expect(importsOf('x.js', code).map((i) => [i.specifier, i.dynamic])).toEqual([
      ['a', false],
      ['@s/b', false],
      ['c', false],
      ['d', true],
    ]);
  });

  it('refuses a devDependency at run time and an optional peer imported statically', () => {
    const manifest = { dependencies: { a: '1' }, peerDependencies: { p: '1' }, peerDependenciesMeta: { p: { optional: true } } };
    const problems = shippedImportProblems(
      [
        { file: 'ok.js', specifier: 'a/sub', dynamic: false },
        { file: 'dev.js', specifier: 'mingo', dynamic: false },
        { file: 'lazy.js', specifier: 'p', dynamic: true },
        { file: 'eager.js', specifier: 'p', dynamic: false },
      ],
      manifest,
    );
    expect(problems).toEqual([
      'dev.js: imports "mingo", but "mingo" is not in dependencies of package.json',
      'eager.js: imports the optional peer "p" statically; load it with import() and name the package when it is missing',
    ]);
  });

  it('passes for the dist/ the global setup built from this checkout', () => {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
    const files = walk(join(root, 'dist')).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'));
    expect(files.length).toBeGreaterThan(100);
    const imports = files.flatMap((f) => importsOf(relative(root, f), readFileSync(f, 'utf8')));
    expect(imports.some((i) => i.specifier === 'mingo')).toBe(true);
    expect(shippedImportProblems(imports, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')))).toEqual([]);
  });
});
