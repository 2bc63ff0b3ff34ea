import 'reflect-metadata';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectKnowledgeFiles } from '../../../src/cli/commands/knowledge-command.js';

describe('collectKnowledgeFiles', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'knowledge-files-'));
    await mkdir(join(dir, 'sub'));
    for (const f of ['a.md', 'sub/b.TXT', 'sub/c.markdown', 'notes.pdf', 'sub/image.png']) await writeFile(join(dir, f), 'x');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads the supported files and reports every other file it found in the folders, instead of dropping it silently', async () => {
    const found = await collectKnowledgeFiles([dir]);
    expect(found.files).toEqual([join(dir, 'a.md'), join(dir, 'sub/b.TXT'), join(dir, 'sub/c.markdown')]);
    expect(found.skipped).toEqual([join(dir, 'notes.pdf'), join(dir, 'sub/image.png')]);
  });

  it('takes a file named directly as given, and a file named twice once', async () => {
    const found = await collectKnowledgeFiles([join(dir, 'notes.pdf'), dir]);
    expect(found.files).toContain(join(dir, 'notes.pdf'));
    expect(found.skipped).not.toContain(join(dir, 'notes.pdf'));
  });

  it('refuses a path that does not exist', async () => {
    await expect(collectKnowledgeFiles([join(dir, 'missing')])).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
