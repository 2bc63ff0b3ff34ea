import { LOG_LEVELS, type LogLevel } from './config.js';
import { redactUrl } from './redact-url.js';

export type LogFields = Record<string, unknown>;

/** The small logging surface the package depends on; inject your own (pino, winston …) to route it. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|cookie|totp|^key$/i;
const URL_WITH_CREDENTIALS = /\b[a-z][a-z0-9+.-]*:\/\/[^\s/@]*:[^\s/@]*@[^\s]*/gi;

/** Deep copy of `value` with secret-looking fields and credentials inside URLs replaced. */
export function redactFields(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[depth]';
  if (typeof value === 'string') return value.replace(URL_WITH_CREDENTIALS, (u) => redactUrl(u));
  if (value instanceof Error) return { name: value.name, message: redactFields(value.message, depth + 1), code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  if (value && typeof value === 'object') {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return redactFields((value as { toJSON(): unknown }).toJSON(), depth + 1);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redactFields(v, depth + 1)]));
  }
  return value;
}

/**
 * A JSON-lines logger writing to stderr (or `sink`), with secret redaction applied to every field.
 */
export function createLogger(level: LogLevel, sink: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const make = (lvl: Exclude<LogLevel, 'silent'>) => (message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(lvl) < threshold) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: redactFields(message), ...(redactFields(fields ?? {}) as LogFields) }));
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}
