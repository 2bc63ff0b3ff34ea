import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireStores } from '../support/require-stores.js';
import { ROOT, runCli } from '../support/run-cli.js';
import { createTestEnv, type TestEnv } from '../support/test-env.js';

interface CodeBlock {
  readonly lang: string;
  readonly code: string;
  /** Set by a `<!-- file: path -->` line right above the fence: the block is that file, verbatim. */
  readonly file: string | undefined;
  readonly line: number;
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
    blocks.push({ lang: open[1] ?? '', code: lines.slice(i + 1, end).join('\n'), file: marker?.[1], line: i + 1 });
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
  it('finds fenced blocks with their language and file marker', () => {
    expect(codeBlocks('text\n<!-- file: a.ts -->\n```ts\nx\ny\n```\n\n```sh\nz\n```\n')).toEqual([
      { lang: 'ts', code: 'x\ny', file: 'a.ts', line: 3 },
      { lang: 'sh', code: 'z', file: undefined, line: 8 },
    ]);
  });
});

describe('docs/testing-applications.md', () => {
  it('shows the files of examples/consumer-app (which CI runs) unchanged, and no other code', async () => {
    const blocks = codeBlocks(await read('docs/testing-applications.md'));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) {
      expect(block.file, `block at line ${block.line} names no example file`).toBeDefined();
      expect(block.code, block.file).toBe((await read(block.file as string)).trimEnd());
    }
  });
});

describe.skipIf(!requireStores('postgres', 'redis'))('docs/getting-started.md runs', () => {
  let t: TestEnv;
  let blocks: CodeBlock[];
  let scratch: string;
  beforeAll(async () => {
    t = await createTestEnv();
    blocks = codeBlocks(await read('docs/getting-started.md'));
    scratch = await mkdtemp(join(tmpdir(), 'platform-data-docs-'));
  });
  afterAll(async () => {
    await t.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  it('has only ts, sh and json blocks', () => {
    expect(blocks.map((b) => b.lang).filter((l) => !['ts', 'sh', 'json'].includes(l))).toEqual([]);
  });

  it('the TypeScript blocks, run in order as one module against a database of their own, sign up, verify, log in, validate and log out', async () => {
    const dir = join(ROOT, 'test-results/docs-blocks');
    await mkdir(dir, { recursive: true });
    // Inside the package, so `import … from 'platform-data'` resolves to this checkout's dist/ (built by the global setup).
    const file = join(dir, 'getting-started.ts');
    await writeFile(file, blocks.filter((b) => b.lang === 'ts').map((b) => `// docs/getting-started.md line ${b.line}\n${b.code}`).join('\n\n'));
    const result = await runNode(file, t.env);
    expect(result, result.output).toMatchObject({ code: 0 });
  });

  it('the allowScripts approval it shows is the example application’s', async () => {
    const manifest = JSON.parse(await read('examples/consumer-app/package.json')) as unknown;
    for (const block of blocks.filter((b) => b.lang === 'json')) expect(manifest).toMatchObject(JSON.parse(block.code) as object);
  });

  it('every shell line runs: platform-data commands against the built CLI; npm install is what test/consumer does', async () => {
    const consumerTest = await read('test/consumer/consumer-app.test.ts');
    for (const line of blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.code.split('\n')).filter(Boolean)) {
      if (line === 'npm install platform-data') {
        expect(consumerTest).toContain("'npm', ['install'");
        continue;
      }
      expect(line).toMatch(/^npx platform-data /);
      const result = await runCli(line.replace(/^npx platform-data /, '').split(' '), { env: t.env, cwd: scratch });
      expect({ line, code: result.code }, result.stdout + result.stderr).toEqual({ line, code: 0 });
    }
  });
});

describe.skipIf(!requireStores('postgres', 'redis'))('docs/enterprise-identity.md runs', () => {
  let t: TestEnv;
  beforeAll(async () => {
    t = await createTestEnv();
  });
  afterAll(async () => t?.cleanup());

  it('the TypeScript blocks, run in order as one module, sign and verify tokens, verify a domain, auto-join, route SSO and relay the outbox', async () => {
    const blocks = codeBlocks(await read('docs/enterprise-identity.md'));
    expect(blocks.map((b) => b.lang).filter((l) => l !== 'ts')).toEqual([]);
    const dir = join(ROOT, 'test-results/docs-blocks');
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'enterprise-identity.ts');
    await writeFile(file, blocks.map((b) => `// docs/enterprise-identity.md line ${b.line}\n${b.code}`).join('\n\n'));
    const result = await runNode(file, t.env);
    expect(result, result.output).toMatchObject({ code: 0 });
  });
});
