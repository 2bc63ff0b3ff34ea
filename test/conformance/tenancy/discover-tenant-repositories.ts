import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoreName } from '../../../src/errors.js';

/** A class found in a store folder with methods that act inside one tenant. */
export interface DiscoveredTenantRepository {
  readonly store: StoreName;
  readonly className: string;
  readonly file: string;
  /** Public methods whose parameters include a TenantContext (or, for Redis, an organizationId that becomes a `{org:<id>}` key). */
  readonly methods: readonly string[];
}

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
const FOLDERS: ReadonlyArray<readonly [StoreName, string]> = [
  ['postgres', 'postgres/repositories'],
  ['mongo', 'mongo'],
  ['qdrant', 'qdrant'],
  ['redis', 'redis'],
];

/** `async name(` / `name(` at class-body indentation, with its parameter list (one level of nested parentheses, e.g. `= Date.now()`). */
const METHOD = /^ {2}(?:async\s+)?([a-zA-Z][a-zA-Z0-9]*)\s*(?:<[^>]*>)?\(((?:[^()]|\([^()]*\))*)\)/gm;

/**
 * Finds the tenant repositories by reading the source, not a hand-kept list:
 * every exported class in a store folder with at least one public method
 * taking a `TenantContext` (Redis: an `organizationId`, which selects a
 * tenant's hash-tagged keys). A repository added tomorrow is found the same
 * way, and the suite fails until it gets an adapter — that is the point.
 * Methods taking an `AdminScope` are cross-tenant by design and excluded.
 */
export function discoverTenantRepositories(): DiscoveredTenantRepository[] {
  const found: DiscoveredTenantRepository[] = [];
  for (const [store, folder] of FOLDERS) {
    const dir = join(SRC, folder);
    // Recursive: repositories sit in each store's repositories/ folder, and nothing in a subfolder escapes the walk.
    for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .sort()) {
      const text = readFileSync(join(dir, name), 'utf8');
      const classes = [...text.matchAll(/^export class ([A-Z][A-Za-z0-9]*)[^{]*\{/gm)];
      classes.forEach((c, i) => {
        const body = text.slice((c.index ?? 0) + c[0].length, classes[i + 1]?.index ?? text.length);
        const methods = new Set<string>();
        for (const m of body.matchAll(METHOD)) {
          const [, method = '', params = ''] = m;
          if (method === 'constructor' || /AdminScope/.test(params)) continue;
          const tenant = store === 'redis' ? /\borganizationId\??\s*:\s*string/.test(params) : /:\s*TenantContext\b/.test(params);
          if (tenant) methods.add(method);
        }
        if (methods.size > 0) found.push({ store, className: c[1] ?? '', file: `src/${folder}/${name}`, methods: [...methods].sort() });
      });
    }
  }
  return found;
}
