/**
 * `npm run api:report`: compiles the declaration files into a temporary
 * directory and writes one report per package.json export to `api/`.
 * `--check` writes nothing and exits 1 when a committed report differs
 * (test/unit/api-report.test.ts runs the same comparison in the suite).
 *
 * Reads the public surface of the package from its built declaration files
 * (`tsc --emitDeclarationOnly`) and renders one API report per subpath export.
 *
 * Why not API Extractor: it would be a new dev dependency carrying its own
 * TypeScript 5 compiler next to this repository's TypeScript 7 (native, whose
 * `typescript` package ships only an unstable JS API). The declaration files
 * tsc emits are regular enough (one top-level statement per column-0 line,
 * continuation lines indented) to read here without a compiler, and the check
 * that every type a caller receives is exported comes with it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A subpath of package.json `exports` and the declaration file behind it. */
export interface ApiEntry {
  readonly subpath: string;
  readonly dts: string;
}

interface Declaration {
  readonly name: string;
  readonly kind: string;
  readonly text: string;
}

interface ParsedModule {
  readonly file: string;
  readonly declarations: Map<string, Declaration[]>;
  /** Local name → where it was imported from (relative specifiers only). */
  readonly imports: Map<string, { readonly file: string; readonly name: string }>;
  /** Exported name → local name or an import/re-export. */
  readonly exports: Map<string, { readonly file: string; readonly name: string }>;
  readonly starExports: string[];
  /** `declare module './x.js' { interface X {…} }`: target file → interface name → added text. */
  readonly augmentations: { readonly file: string; readonly name: string; readonly text: string }[];
}

/** An exported or reachable declaration, keyed by the module that declares it. */
export interface ApiSymbol {
  readonly file: string;
  readonly name: string;
  readonly kind: string;
  readonly text: string;
}

export interface ReachableInternal extends ApiSymbol {
  /** `true` when every reference is `typeof X` (a zod schema behind an exported type). */
  readonly onlyTypeof: boolean;
  readonly referencedBy: readonly string[];
}

export interface EntrySurface {
  readonly subpath: string;
  readonly exported: ReadonlyMap<string, ApiSymbol>;
  readonly internal: readonly ReachableInternal[];
}

const keyOf = (s: { readonly file: string; readonly name: string }): string => `${s.file}#${s.name}`;

const DECLARATION = /^(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(const|let|var|function|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/;

/** Removes comments, keeping string literals (which may contain slashes) intact. */
function stripComments(source: string): string {
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "'" || c === '"' || c === '`') {
      const end = closingQuote(source, i);
      out += source.slice(i, end + 1);
      i = end;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && source[i + 1] === '*') {
      i = source.indexOf('*/', i + 2) + 1;
    } else out += c;
  }
  return out;
}

function closingQuote(source: string, start: number): number {
  const quote = source[start];
  for (let i = start + 1; i < source.length; i++) {
    if (source[i] === '\\') i++;
    else if (source[i] === quote) return i;
  }
  return source.length - 1;
}

/** Splits a declaration file into top-level statements (tsc starts each at column 0). */
function statements(source: string): string[] {
  const result: string[] = [];
  for (const line of stripComments(source).split('\n')) {
    if (line.trim() === '') continue;
    const continues = /^[\s})\]|&]/.test(line) && result.length > 0;
    if (continues) result[result.length - 1] += `\n${line.trimEnd()}`;
    else result.push(line.trimEnd());
  }
  return result;
}

function specifiers(list: string): { readonly imported: string; readonly local: string }[] {
  return list
    .split(',')
    .map((s) => s.trim().replace(/^type\s+/, ''))
    .filter((s) => s !== '')
    .map((s) => {
      const [imported, local] = s.split(/\s+as\s+/);
      return { imported: imported!, local: local ?? imported! };
    });
}

function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return resolve(dirname(from), specifier.replace(/\.js$/, '.d.ts'));
}

function parseModule(file: string): ParsedModule {
  const module: ParsedModule = { file, declarations: new Map(), imports: new Map(), exports: new Map(), starExports: [], augmentations: [] };
  for (const statement of statements(readFileSync(file, 'utf8'))) {
    const flat = statement.replace(/\s+/g, ' ');
    let m: RegExpMatchArray | null;
    if ((m = flat.match(/^import (?:type )?\{(.*)\} from ['"](.+)['"];$/))) {
      const target = resolveSpecifier(file, m[2]!);
      if (target) for (const s of specifiers(m[1]!)) module.imports.set(s.local, { file: target, name: s.imported });
    } else if (flat.startsWith('import ')) {
      continue;
    } else if ((m = flat.match(/^export \* from ['"](.+)['"];$/))) {
      const target = resolveSpecifier(file, m[1]!);
      if (target) module.starExports.push(target);
    } else if ((m = flat.match(/^export (?:type )?\{(.*)\}(?: from ['"](.+)['"])?;$/))) {
      const target = m[2] === undefined ? undefined : resolveSpecifier(file, m[2]);
      if (m[2] !== undefined && !target) throw new Error(`${file}: re-export from a package (${m[2]}) is not part of this package's surface`);
      for (const s of specifiers(m[1]!)) module.exports.set(s.local, { file: target ?? file, name: s.imported });
    } else if ((m = statement.match(/^declare module ['"](.+)['"] \{\n([\s\S]*)\n\}$/))) {
      const target = resolveSpecifier(file, m[1]!);
      if (!target) continue;
      for (const inner of statements(m[2]!.replace(/^ {4}/gm, ''))) {
        const d = inner.match(DECLARATION);
        if (d) module.augmentations.push({ file: target, name: d[2]!, text: `${inner}\n// (augmented by ${m[1]} from this module)` });
      }
    } else if ((m = statement.match(DECLARATION))) {
      const [, kind, name] = m;
      const list = module.declarations.get(name!) ?? [];
      list.push({ name: name!, kind: kind!, text: statement.replace(/^export\s+/, '').replace(/^declare\s+/, '') });
      module.declarations.set(name!, list);
      if (/^export\s/.test(statement)) module.exports.set(name!, { file, name: name! });
    } else {
      throw new Error(`${file}: cannot read statement: ${flat.slice(0, 120)}`);
    }
  }
  return module;
}

/** Reads declaration files on demand and answers "where is X declared". */
class DeclarationGraph {
  readonly #modules = new Map<string, ParsedModule>();
  readonly #augmentations = new Map<string, string[]>();

  /** Reads every declaration file first, so module augmentations are known before any lookup. */
  constructor(root: string) {
    for (const file of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.d.ts')) continue;
      for (const a of this.module(join(root, file)).augmentations) {
        const key = keyOf(a);
        this.#augmentations.set(key, [...(this.#augmentations.get(key) ?? []), a.text]);
      }
    }
  }

  module(file: string): ParsedModule {
    let module = this.#modules.get(file);
    if (!module) {
      module = parseModule(file);
      this.#modules.set(file, module);
    }
    return module;
  }

  /** Every name a module exports, each resolved to the module that declares it. */
  exportsOf(file: string, seen = new Set<string>()): Map<string, ApiSymbol> {
    const result = new Map<string, ApiSymbol>();
    if (seen.has(file)) return result;
    seen.add(file);
    const module = this.module(file);
    for (const star of module.starExports) for (const [name, symbol] of this.exportsOf(star, seen)) result.set(name, symbol);
    for (const [name, target] of module.exports) result.set(name, this.origin(target.file, target.name));
    return result;
  }

  /** Follows imports and re-exports to the declaring module. */
  origin(file: string, name: string): ApiSymbol {
    const module = this.module(file);
    const declarations = module.declarations.get(name);
    if (declarations) {
      const texts = [...declarations.map((d) => d.text), ...(this.#augmentations.get(keyOf({ file, name })) ?? [])];
      return { file, name, kind: declarations[0]!.kind, text: texts.join('\n') };
    }
    const imported = module.imports.get(name);
    if (imported) return this.resolveExport(imported.file, imported.name);
    const exported = module.exports.get(name);
    if (exported && exported.file !== file) return this.resolveExport(exported.file, exported.name);
    throw new Error(`${file}: ${name} is neither declared nor imported`);
  }

  resolveExport(file: string, name: string): ApiSymbol {
    const symbol = this.exportsOf(file).get(name);
    if (!symbol) throw new Error(`${file} does not export ${name}`);
    return symbol;
  }

  /** Package-internal declarations a declaration's text refers to, and whether only through `typeof`. */
  references(symbol: ApiSymbol): { readonly symbol: ApiSymbol; readonly viaTypeof: boolean }[] {
    const module = this.module(symbol.file);
    const found: { symbol: ApiSymbol; viaTypeof: boolean }[] = [];
    let text = symbol.text;
    text = text.replace(/import\(['"]([^'"]+)['"]\)\.([A-Za-z_$][\w$]*)/g, (_, specifier: string, name: string) => {
      const target = resolveSpecifier(symbol.file, specifier);
      if (target) found.push({ symbol: this.resolveExport(target, name), viaTypeof: false });
      return ' ';
    });
    text = text.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");
    for (const m of text.matchAll(/(?<![.\w$])(typeof\s+)?([A-Za-z_$][\w$]*)(?!\s*\??:)/g)) {
      const name = m[2]!;
      if (name === symbol.name && symbol.file === module.file) continue;
      if (!module.declarations.has(name) && !module.imports.has(name)) continue;
      found.push({ symbol: this.origin(module.file, name), viaTypeof: m[1] !== undefined });
    }
    return found;
  }
}

/**
 * The surface of every entry: its exports, and the package-internal
 * declarations reachable from them that no entry exports.
 */
export function readSurfaces(dtsRoot: string, entries: readonly ApiEntry[]): EntrySurface[] {
  const graph = new DeclarationGraph(resolve(dtsRoot));
  const exportedAnywhere = new Set<string>();
  const exportsByEntry = entries.map((e) => ({ entry: e, exported: graph.exportsOf(resolve(e.dts)) }));
  for (const { exported } of exportsByEntry) for (const s of exported.values()) exportedAnywhere.add(keyOf(s));
  return exportsByEntry.map(({ entry, exported }) => {
    const internal = new Map<string, { symbol: ApiSymbol; onlyTypeof: boolean; referencedBy: Set<string> }>();
    const queue = [...exported.values()];
    const visited = new Set(queue.map(keyOf));
    while (queue.length > 0) {
      const from = queue.shift()!;
      for (const { symbol, viaTypeof } of graph.references(from)) {
        const key = keyOf(symbol);
        if (!exportedAnywhere.has(key)) {
          const seen = internal.get(key) ?? { symbol, onlyTypeof: true, referencedBy: new Set<string>() };
          seen.onlyTypeof &&= viaTypeof;
          seen.referencedBy.add(from.name);
          internal.set(key, seen);
        }
        if (!visited.has(key) && !exportedAnywhere.has(key)) {
          visited.add(key);
          queue.push(symbol);
        }
      }
    }
    return {
      subpath: entry.subpath,
      exported,
      internal: [...internal.values()].map((i) => ({ ...i.symbol, onlyTypeof: i.onlyTypeof, referencedBy: [...i.referencedBy].sort() })),
    };
  });
}

/** The entries of package.json `exports`, mapped into a declaration directory (`dist/` layout). */
export function packageEntries(packageJson: { readonly name: string; readonly exports: Record<string, unknown> }, dtsRoot: string): ApiEntry[] {
  return Object.entries(packageJson.exports)
    .filter((e): e is [string, { types: string }] => typeof e[1] === 'object' && e[1] !== null && 'types' in e[1])
    .map(([subpath, target]) => ({
      subpath: subpath === '.' ? packageJson.name : `${packageJson.name}/${subpath.slice(2)}`,
      dts: join(dtsRoot, relative('dist', target.types)),
    }));
}

/** The report file name of an entry: `platform-data/postgres` → `platform-data-postgres.api.md`. */
export function reportFileName(subpath: string): string {
  return `${subpath.replace(/\//g, '-')}.api.md`;
}

function codeBlock(symbols: readonly (ApiSymbol & { readonly exportedAs?: string })[], root: string): string {
  return symbols
    .map((s) => {
      const where = `// ${relative(root, s.file).replace(/\.d\.ts$/, '.ts')}`;
      const alias = s.exportedAs !== undefined && s.exportedAs !== s.name ? ` (exported as ${s.exportedAs})` : '';
      return `${where}${alias}\n${s.text}`;
    })
    .join('\n\n');
}

/** One entry's report: every exported declaration, then what they reach that no entry exports. */
export function renderReport(surface: EntrySurface, dtsRoot: string): string {
  const root = resolve(dtsRoot);
  const exported = [...surface.exported].sort(([a], [b]) => a.localeCompare(b)).map(([name, s]) => ({ ...s, exportedAs: name }));
  const internal = [...surface.internal].sort((a, b) => a.name.localeCompare(b.name) || a.file.localeCompare(b.file));
  const lines = [
    `# API report: \`${surface.subpath}\``,
    '',
    '<!-- Generated by `npm run api:report` from the built declaration files; test/unit/api-report.test.ts fails when it is stale. -->',
    '',
    `## Exported (${exported.length})`,
    '',
    '```ts',
    codeBlock(exported, root),
    '```',
    '',
  ];
  if (internal.length > 0) {
    lines.push(
      `## Reached from the exports but not exported (${internal.length})`,
      '',
      'Only values behind an exported type (`typeof schema`) may appear here; a type a caller receives must be exported.',
      '',
      '```ts',
      codeBlock(internal, root),
      '```',
      '',
    );
  }
  return lines.join('\n');
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const API_DIRECTORY = join(ROOT, 'api');

export interface ApiReports {
  readonly surfaces: readonly EntrySurface[];
  /** Report file name → content. */
  readonly reports: ReadonlyMap<string, string>;
}

/** Emits declarations with the build's tsconfig into a temporary directory and renders every entry's report. */
export function currentReports(): ApiReports {
  const out = mkdtempSync(join(tmpdir(), 'platform-data-api-'));
  try {
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    execFileSync(tsc, ['-p', join(ROOT, 'tsconfig.build.json'), '--emitDeclarationOnly', '--declarationMap', 'false', '--outDir', out], { stdio: 'inherit' });
    const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };
    const surfaces = readSurfaces(out, packageEntries(packageJson, out));
    return { surfaces, reports: new Map(surfaces.map((s) => [reportFileName(s.subpath), renderReport(s, out)])) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The committed reports in `api/`. */
export function committedReports(): Map<string, string> {
  const files = readdirSync(API_DIRECTORY).filter((f) => f.endsWith('.api.md'));
  return new Map(files.map((f) => [f, readFileSync(join(API_DIRECTORY, f), 'utf8')]));
}

if (import.meta.main) {
  const { reports } = currentReports();
  if (process.argv.includes('--check')) {
    const committed = committedReports();
    const stale = [...new Set([...reports.keys(), ...committed.keys()])].filter((f) => reports.get(f) !== committed.get(f));
    if (stale.length > 0) {
      console.error(`API reports out of date: ${stale.join(', ')}; run npm run api:report and review the diff`);
      process.exit(1);
    }
  } else {
    mkdirSync(API_DIRECTORY, { recursive: true });
    for (const f of readdirSync(API_DIRECTORY)) if (f.endsWith('.api.md') && !reports.has(f)) rmSync(join(API_DIRECTORY, f));
    for (const [f, content] of reports) writeFileSync(join(API_DIRECTORY, f), content);
    console.log(`wrote ${reports.size} API reports to api/`);
  }
}
