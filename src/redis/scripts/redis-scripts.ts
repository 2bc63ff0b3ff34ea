import { CACHE_READ_OR_LOCK, CACHE_WRITE_IF_LOCK_HELD, RELEASE_LOCK } from './cache-scripts.js';
import { COUNTER_INCREMENT, SLIDING_WINDOW_CONSUME } from './rate-limit-scripts.js';
import type { RedisScript } from './redis-script.js';
import { PUT_SESSION, READ_SESSION_BY_JTI, REVOKE_ALL_SESSIONS, REVOKE_SESSION } from './session-scripts.js';

/** Every Lua script of the package (for docs/sessions.md and checks). */
export const REDIS_SCRIPTS: readonly RedisScript[] = [
  READ_SESSION_BY_JTI,
  PUT_SESSION,
  REVOKE_SESSION,
  REVOKE_ALL_SESSIONS,
  SLIDING_WINDOW_CONSUME,
  COUNTER_INCREMENT,
  CACHE_READ_OR_LOCK,
  CACHE_WRITE_IF_LOCK_HELD,
  RELEASE_LOCK,
];

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/ {2,}/g, ' ').replace(/\n/g, '<br>');

/** Markdown table of {@link REDIS_SCRIPTS}, as it appears in docs/sessions.md. */
export function renderScriptsMarkdown(): string {
  const rows = REDIS_SCRIPTS.map((s) =>
    [
      `\`${s.name}\``,
      cell(s.description),
      s.keys.map((k, i) => `${i + 1}. \`${k.name}\``).join('<br>'),
      s.argv.map((a, i) => `${i + 1}. \`${a.name}\``).join('<br>'),
      cell(s.returns),
    ].join(' | '),
  );
  return ['| script | does | KEYS | ARGV | returns |', '|---|---|---|---|---|', ...rows.map((r) => `| ${r} |`)].join('\n');
}
