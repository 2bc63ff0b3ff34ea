import { describe, expect, it } from 'vitest';
import { runCli } from '../support/run-cli.js';

describe('the demo (npm start)', () => {
  it('walks the whole story on the local stack and exits 0 within two minutes', async () => {
    // The README's first command is `npm start` = build + `platform-data demo`; the global setup built dist/.
    const result = await runCli(['demo'], { env: { LOG_LEVEL: 'warn' }, timeoutMs: 150_000 });
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(120_000);
    const story = result.stdout;
    for (const heading of [
      'Local stack',
      'Bootstrap',
      'An organization and its owner',
      'Invite a member',
      'Log in',
      'Refresh',
      'Replay the old refresh token',
      'An encrypted integration token',
      'An API key and its rate limit',
      'A conversation with messages',
      'Knowledge',
      'The audit trail',
      'Erase the member',
      'Health',
    ]) {
      expect(story).toContain(heading);
    }
    expect(story).toMatch(/"password123" refused: .*common/);
    expect(story).toMatch(/refused \(reused\); the whole family is revoked/);
    expect(story).toMatch(/5 calls allowed, then limited/);
    expect(story).toMatch(/\d\.\d{3} {2}data-retention/);
    expect(story).toContain('auth.refresh.reuse_detected');
    expect(story).toMatch(/verifyErased: nothing of the user remains/);
    expect(story).toMatch(/Done in \d+\.\d s\./);
  }, 180_000);
});
