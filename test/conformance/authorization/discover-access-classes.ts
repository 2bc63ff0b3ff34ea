import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type AnyClass = abstract new (...args: never[]) => unknown;

/** An exported class of a repository or flow folder, loaded. */
export interface DiscoveredAccessClass {
  readonly className: string;
  readonly file: string;
  readonly cls: AnyClass;
}

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

/** Which files of which folders hold repositories and flows (the tenancy suite's folders, plus flows). */
const FOLDERS: ReadonlyArray<readonly [string, (file: string) => boolean]> = [
  ['postgres/repositories', () => true],
  ['mongo/repositories', (f) => f.endsWith('-repository.ts')],
  ['qdrant/repositories', (f) => f === 'embedding-index.ts'],
  ['flows', () => true],
];

/** Exported classes that hold no tenant data and reach no store, with the reason. */
export const NOT_ACCESS_CONTROLLED: Readonly<Record<string, string>> = {
  RefreshTokenReusedError: 'an error class',
  DiscardingAuthNotifier: 'the default notifier: drops messages, reaches no store',
  DiscardingIdentityNotifier: 'the default identity notifier: drops messages, reaches no store',
  HashingEmbedder: 'a pure function of its input (tests, demo)',
  LangchainTextSplitter: 'a pure function of its input',
};

/**
 * Finds every exported class of the repository and flow folders by reading
 * the source (as the tenancy suite does), then loads it: a class added
 * tomorrow is found without editing this suite.
 */
export async function discoverAccessClasses(): Promise<DiscoveredAccessClass[]> {
  const found: DiscoveredAccessClass[] = [];
  for (const [folder, include] of FOLDERS) {
    const dir = join(SRC, folder);
    // Recursive: flows/ is grouped by domain (flows/auth/ …), and a subfolder added tomorrow is walked too.
    for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && include(basename(f)))
      .sort()) {
      const text = readFileSync(join(dir, name), 'utf8');
      const classes = [...text.matchAll(/^export class ([A-Z][A-Za-z0-9]*)/gm)].map((m) => m[1] ?? '');
      if (classes.length === 0) continue;
      const module = (await import(pathToFileURL(join(dir, name)).href)) as Record<string, unknown>;
      for (const className of classes) {
        if (className in NOT_ACCESS_CONTROLLED) continue;
        found.push({ className, file: `src/${folder}/${name}`, cls: module[className] as AnyClass });
      }
    }
  }
  return found;
}
