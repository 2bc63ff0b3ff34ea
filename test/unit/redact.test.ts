import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from '../../src/index.js';

describe('redaction', () => {
  it('redacts URL passwords and secret query parameters, and never echoes unparseable input', () => {
    expect(redactUrl('postgres://u:pw@h:1/db')).toBe('postgres://u:***@h:1/db');
    expect(redactUrl('http://h:6333/?api-key=abc&x=1')).toBe('http://h:6333/?api-key=***&x=1');
    expect(redactUrl('redis://h:6379')).toBe('redis://h:6379');
    expect(redactUrl('postgres://u:p w@[bad')).toBe('postgres://***');
  });

  it('the logger redacts secret fields and credentials inside strings', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (l) => lines.push(l));
    logger.info('connecting to postgres://u:topsecret@h/db', { password: 'pw1', nested: { refreshToken: 'rt1', ok: 'visible' } });
    logger.debug('below', {});
    const printed = lines.join('\n');
    expect(lines).toHaveLength(2);
    expect(printed).not.toMatch(/topsecret|pw1|rt1/);
    expect(printed).toContain('visible');
    const silent: string[] = [];
    createLogger('warn', (l) => silent.push(l)).info('hidden');
    expect(silent).toHaveLength(0);
  });
});
