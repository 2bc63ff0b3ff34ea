import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { requireStores } from '../support/require-stores.js';
import { ROOT, runCli } from '../support/run-cli.js';
import { test } from '../support/fixtures.js';

interface CodeBlock {
  readonly lang: string;
  readonly code: string;
  /** Set by a `<!-- file: path -->` line right above the fence: the block is that file, verbatim. */
  readonly file: string | undefined;
  readonly line: number;
  /** Set by a `<!-- not run: reason -->` line right above the fence (e.g. it needs Docker). */
  readonly notRun?: string;
}

/** The fenced code blocks of a Markdown text, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`unclosed code block at line ${i + 1}`);
    const marker = /^<!-- file: (\S+) -->$/.exec(lines[i - 1] ?? '');
    const notRun = /^<!-- not run: (.+) -->$/.exec(lines[i - 1] ?? '');
    blocks.push({ lang: open[1] ?? '', code: lines.slice(i + 1, end).join('\n'), file: marker?.[1], line: i + 1, ...(notRun ? { notRun: notRun[1] } : {}) });
    i = end;
  }
  return blocks;
}

const read = (path: string) => readFile(join(ROOT, path), 'utf8');

function runNode(file: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('codeBlocks', () => {
  test('finds fenced blocks with their language and file marker', () => {
    expect(codeBlocks('text\n<!-- file: a.ts -->\n```ts\nx\ny\n```\n\n```sh\nz\n```\n')).toEqual([
      { lang: 'ts', code: 'x\ny', file: 'a.ts', line: 3 },
      { lang: 'sh', code: 'z', file: undefined, line: 8 },
    ]);
  });
});

describe('docs/testing-applications.md', () => {
  test('shows the files of examples/consumer-app (which CI runs) unchanged, and no other code', async () => {
    const blocks = codeBlocks(await read('docs/testing-applications.md'));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) {
      expect(block.file, `block at line ${block.line} names no example file`).toBeDefined();
      expect(block.code, block.file).toBe((await read(block.file as string)).trimEnd());
    }
  });
});

/** Every Markdown file an application team reads. */
async function docFiles(): Promise<string[]> {
  return [
    'README.md',
    ...(await readdir(join(ROOT, 'docs')))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
}

/** Blocks that are pictures or printed output, not code: nothing to run. */
const TEXT_LANGS = new Set(['', 'text', 'mermaid']);

/**
 * The TypeScript blocks of one document as modules: a block that creates a
 * platform (`createPlatform(`) starts a new program, the others continue the
 * one before (a guide builds one program step by step).
 */
function tsModules(blocks: readonly CodeBlock[]): CodeBlock[][] {
  const modules: CodeBlock[][] = [];
  for (const block of blocks.filter((b) => b.lang === 'ts' && !b.file)) {
    if (block.code.includes('createPlatform(') || modules.length === 0) modules.push([block]);
    else (modules.at(-1) as CodeBlock[]).push(block);
  }
  return modules;
}

describe.skipIf(!requireStores('postgres', 'redis', 'mongo', 'qdrant'))('every code block in README.md and docs/ runs', () => {
  let scratch: string;
  const docs: Array<{ doc: string; blocks: CodeBlock[] }> = [];
  test.beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'platform-data-docs-'));
    for (const doc of await docFiles()) docs.push({ doc, blocks: codeBlocks(await read(doc)) });
  });
  test.afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('every block is text, a file shown verbatim, or in a language this suite runs; "not run" only with a reason', () => {
    const unknown = docs.flatMap(({ doc, blocks }) =>
      blocks
        .filter((b) => !TEXT_LANGS.has(b.lang) && !b.file && !b.notRun && !['ts', 'sh', 'sql', 'json'].includes(b.lang))
        .map((b) => `${doc}:${b.line} ${b.lang}`),
    );
    expect(unknown).toEqual([]);
    for (const { blocks } of docs) for (const b of blocks.filter((x) => x.notRun !== undefined)) expect(b.notRun?.length).toBeGreaterThan(10);
  });

  test('blocks marked with a file show that file unchanged', async () => {
    for (const { doc, blocks } of docs)
      for (const block of blocks.filter((b) => b.file)) expect(block.code, `${doc}:${block.line}`).toBe((await read(block.file as string)).trimEnd());
  });

  test('the TypeScript blocks run, in order, as modules against databases of their own', async ({ testEnv: t }) => {
    const dir = join(ROOT, 'test-results/docs-blocks');
    await mkdir(dir, { recursive: true });
    let ran = 0;
    for (const { doc, blocks } of docs) {
      for (const [index, module] of tsModules(blocks.filter((b) => !b.notRun)).entries()) {
        // Inside the package, so `import … from 'platform-data'` resolves to this checkout's dist/ (built by the global setup).
        const file = join(dir, `${doc.replace(/\W+/g, '-')}-${index}.ts`);
        // A block may leave a server listening (the health handler): give it a moment, then end the process.
        const exit = 'setTimeout(() => process.exit(0), 2000).unref();';
        await writeFile(file, module.map((b) => `// ${doc} line ${b.line}\n${b.code}`).join('\n\n') + `\n\n${exit}\n`);
        const result = await runNode(file, { ...t.env, PORT: '0' });
        expect({ doc, line: module[0]?.line, code: result.code }, result.output).toEqual({ doc, line: module[0]?.line, code: 0 });
        ran++;
      }
    }
    expect(ran).toBeGreaterThanOrEqual(5);
  });

  test('the SQL blocks are valid against the migrated schema (PREPAREd as the owner, rolled back)', async ({ testEnv: t }) => {
    const { Client } = await import('pg');
    const client = new Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      let n = 0;
      for (const { doc, blocks } of docs)
        for (const block of blocks.filter((b) => b.lang === 'sql' && !b.notRun)) {
          await client.query('BEGIN');
          try {
            await client.query(`PREPARE doc_block_${n++} AS ${block.code.replace(/;\s*$/, '')}`);
          } catch (error) {
            throw new Error(`${doc}:${block.line}: ${(error as Error).message}`);
          } finally {
            await client.query('ROLLBACK');
          }
        }
      expect(n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });

  test('the JSON blocks are the example application’s install-script approvals', async () => {
    const manifest = JSON.parse(await read('examples/consumer-app/package.json')) as unknown;
    for (const { blocks } of docs)
      for (const block of blocks.filter((b) => b.lang === 'json' && !b.notRun)) expect(manifest).toMatchObject(JSON.parse(block.code) as object);
  });

  test('every shell line runs: platform-data commands against the built CLI; npm install is what test/consumer does', async ({ testEnv: t }) => {
    const consumerTest = await read('test/consumer/consumer-app.test.ts');
    for (const { doc, blocks } of docs) {
      for (const raw of blocks.filter((b) => b.lang === 'sh' && !b.notRun).flatMap((b) => b.code.split('\n'))) {
        const line = raw.replace(/\s+#.*$/, '').trim();
        if (!line) continue;
        if (line === 'npm install platform-data') {
          expect(consumerTest).toContain("'npm', ['install'");
          continue;
        }
        expect(line, doc).toMatch(/^npx platform-data /);
        const result = await runCli(line.replace(/^npx platform-data /, '').split(/\s+/), { env: t.env, cwd: scratch });
        expect({ doc, line, code: result.code }, result.stdout + result.stderr).toEqual({ doc, line, code: 0 });
      }
    }
  });
});
