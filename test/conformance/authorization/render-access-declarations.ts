import { accessDeclarationsOf, accessKindOf, type AccessDeclaration } from '../../../src/tenancy/declare-access.js';
import type { DiscoveredAccessClass } from './discover-access-classes.js';

function describeDeclaration(d: AccessDeclaration): string {
  if ('requires' in d) return `\`${d.requires}\``;
  if ('ownAccount' in d) return 'own account (in person)';
  if ('adminScope' in d) return '`AdminScope`';
  if ('preTenant' in d) return `pre-tenant: ${d.preTenant}`;
  return `system job: ${d.systemJob}`;
}

/** Every declared method, one row per class and access, as in docs/security.md. */
export function renderAccessDeclarationsMarkdown(classes: readonly DiscoveredAccessClass[]): string {
  const rows = [...classes]
    .sort((a, b) => a.className.localeCompare(b.className))
    .flatMap(({ className, cls }) => {
      const groups = new Map<string, string[]>();
      for (const [method, d] of accessDeclarationsOf(cls)) {
        const key = `${accessKindOf(d)}|${describeDeclaration(d)}`;
        groups.set(key, [...(groups.get(key) ?? []), method]);
      }
      return [...groups].map(
        ([key, methods]) =>
          `| \`${className}\` | ${methods
            .sort()
            .map((m) => `\`${m}\``)
            .join(', ')} | ${key.split('|')[1] ?? ''} |`,
      );
    });
  return ['| class | methods | access |', '|---|---|---|', ...rows].join('\n');
}
