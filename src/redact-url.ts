/**
 * Returns `url` with any password (and `api-key`-like query parameters) replaced
 * by `***`, safe to print. Unparseable input is reduced to its scheme so that a
 * malformed URL containing a secret is never echoed.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
    return scheme ? `${scheme}//***` : '***';
  }
  if (parsed.password) parsed.password = '***';
  for (const key of [...parsed.searchParams.keys()]) {
    if (/pass|secret|key|token/i.test(key)) parsed.searchParams.set(key, '***');
  }
  return parsed.toString();
}
