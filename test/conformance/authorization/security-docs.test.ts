import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderPermissionMatrixMarkdown } from '../../../src/tenancy/permission-matrix.js';
import { discoverAccessClasses } from './discover-access-classes.js';
import { renderAccessDeclarationsMarkdown } from './render-access-declarations.js';

const doc = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');

function section(name: string): string | undefined {
  return new RegExp(`<!-- generated:${name} -->\\n([\\s\\S]*?)\\n<!-- /generated:${name} -->`).exec(doc)?.[1];
}

/** On a mismatch the expected text is also written to the temp folder, to paste into the doc. */
function expectSection(name: string, expected: string): void {
  const actual = section(name);
  if (actual !== expected) writeFileSync(join(tmpdir(), `security-md-${name}.md`), expected);
  expect(actual, `docs/security.md section ${name} (expected text in ${join(tmpdir(), `security-md-${name}.md`)})`).toBe(expected);
}

describe('docs/security.md', () => {
  it('shows PERMISSION_MATRIX as it is in the code', () => {
    expectSection('permission-matrix', renderPermissionMatrixMarkdown());
  });

  it('lists the access declaration of every repository and flow method', async () => {
    expectSection('access-declarations', renderAccessDeclarationsMarkdown(await discoverAccessClasses()));
  });
});
