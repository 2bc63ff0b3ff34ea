// Checks that every package the shipped dist/ imports is one a consumer's install brings:
// a runtime import (dist/**/*.js) must name a dependency, or an optional peer loaded with
// a dynamic import(); a type import (dist/**/*.d.ts) must name a dependency or peer, or a
// package whose @types/ counterpart is a dependency. Prints one line per problem and exits 1.
//
//   node scripts/check-shipped-imports.ts [dist-dir]
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Manifest {
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

export interface ShippedImport {
  readonly file: string;
  readonly specifier: string;
  readonly dynamic: boolean;
}

const STATIC_IMPORT = /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`), or undefined for relative and builtin ones. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return name && !builtinModules.includes(name) ? name : undefined;
}

/** Every bare import in one emitted file; comments are dropped so JSDoc examples do not count. */
export function importsOf(file: string, text: string): ShippedImport[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: ShippedImport[] = [];
  for (const m of code.matchAll(STATIC_IMPORT)) found.push({ file, specifier: (m[1] ?? m[2]) as string, dynamic: false });
  for (const m of code.matchAll(DYNAMIC_IMPORT)) found.push({ file, specifier: m[1] as string, dynamic: true });
  return found.filter((i) => packageOf(i.specifier) !== undefined);
}

/** One message per import a consumer's install would not satisfy. */
export function shippedImportProblems(imports: readonly ShippedImport[], manifest: Manifest): string[] {
  const deps = manifest.dependencies ?? {};
  const peers = manifest.peerDependencies ?? {};
  const optional = (name: string) => manifest.peerDependenciesMeta?.[name]?.optional === true;
  const problems: string[] = [];
  for (const i of imports) {
    const name = packageOf(i.specifier) as string;
    const typesOnly = i.file.endsWith('.d.ts');
    if (name in deps) continue;
    if (name in peers) {
      if (typesOnly || i.dynamic || !optional(name)) continue;
      problems.push(`${i.file}: imports the optional peer "${name}" statically; load it with import() and name the package when it is missing`);
      continue;
    }
    const typesPackage = `@types/${name.replace(/^@/, '').replace('/', '__')}`;
    if (typesOnly && typesPackage in deps) continue;
    problems.push(`${i.file}: imports "${i.specifier}", but "${name}" is not in dependencies${typesOnly ? ` (nor ${typesPackage})` : ''} of package.json`);
  }
  return problems;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const dist = process.argv[2] ?? join(root, 'dist');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
  const files = walk(dist).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'));
  if (files.length === 0) {
    process.stderr.write(`no .js files under ${dist}: run \`npm run build\` first\n`);
    process.exit(1);
  }
  const imports = files.flatMap((f) => importsOf(relative(root, f), readFileSync(f, 'utf8')));
  const problems = shippedImportProblems(imports, manifest);
  for (const p of problems) process.stderr.write(`${p}\n`);
  const packages = new Set(imports.map((i) => packageOf(i.specifier)));
  process.stdout.write(`${files.length} files, ${packages.size} packages imported, ${problems.length} problem(s)\n`);
  process.exit(problems.length === 0 ? 0 : 1);
}
