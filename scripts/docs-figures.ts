// `npm run docs:figures`: copies measured figures into the docs, only when someone chooses to.
// Tests and CI never write tracked files; they leave their figures under test-results/.
// Reads test-results/reliability/<suite>.json (written by test/reliability/*) and rewrites the
// marked section of docs/reliability.md. Deterministic: no dates, sorted keys.
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

interface Figure {
  readonly check: string;
  readonly measured: string;
}

const ROOT = new URL('../', import.meta.url);
const RESULTS_DIR = fileURLToPath(new URL('test-results/reliability/', ROOT));
const DOC = fileURLToPath(new URL('docs/reliability.md', ROOT));
const BEGIN = '<!-- generated:reliability-figures -->';
const END = '<!-- /generated:reliability-figures -->';
/** Suites in the order the document lists them. */
const SUITES = ['concurrency', 'faults', 'hostile-input', 'secrets-at-rest', 'timing', 'soak'];

const present = new Set(await readdir(RESULTS_DIR).catch(() => [] as string[]));
const missing = SUITES.filter((suite) => !present.has(`${suite}.json`));
if (missing.length > 0) {
  // A partial run would drop the missing suites' tables from the document.
  console.error(
    `docs:figures: no figures for ${missing.join(', ')} in test-results/reliability/; run the reliability suites first (npx vitest run test/reliability)`,
  );
  process.exit(2);
}
const lines: string[] = [BEGIN, ''];
for (const suite of SUITES) {
  const figures = JSON.parse(await readFile(`${RESULTS_DIR}${suite}.json`, 'utf8')) as Record<string, Figure>;
  lines.push(`**${suite}** (\`test/reliability/${suite}.test.ts\`)`, '', '| check | measured |', '|---|---|');
  for (const key of Object.keys(figures).sort()) {
    const f = figures[key]!;
    lines.push(`| ${f.check.replaceAll('|', '\\|')} | ${f.measured.replaceAll('|', '\\|')} |`);
  }
  lines.push('');
}
lines.push(END);
const doc = await readFile(DOC, 'utf8');
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (start < 0 || end < start) {
  console.error(`docs:figures: ${DOC} has no ${BEGIN} … ${END} section`);
  process.exit(2);
}
const next = `${doc.slice(0, start)}${lines.join('\n')}${doc.slice(end + END.length)}`;
if (next === doc) {
  console.log('docs:figures: docs/reliability.md already up to date');
} else {
  await writeFile(`${DOC}.tmp`, next);
  await rename(`${DOC}.tmp`, DOC);
  console.log('docs:figures: docs/reliability.md updated from test-results/reliability/');
}
