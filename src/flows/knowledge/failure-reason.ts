import { PlatformError } from '../../errors.js';
import { redactFields } from '../../logger.js';

const SECRET_IN_TEXT = /\b(bearer|api[-_ ]?key|token|password|secret|authorization)(["'\s:=]+)(?:(?:bearer|basic)\s+)?[^\s"',;]+/gi;

/** A one-line failure reason for the document record: mapped errors keep their code, URLs lose credentials, key-like values are masked. */
export function failureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof PlatformError ? `${error.code}: ` : error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : '';
  const clean = String(redactFields(message)).replace(SECRET_IN_TEXT, '$1$2[redacted]').split('\n')[0] ?? '';
  return `${code}${clean}`.slice(0, 1000);
}
