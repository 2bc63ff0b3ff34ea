import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { timeOrderedUuid } from '../../src/time-ordered-uuid.js';

describe('timeOrderedUuid', () => {
  it('lays out RFC 9562 section 5.7: 48-bit Unix ms, version 7, variant 0b10', () => {
    // RFC 9562 Appendix A.6 example: Tuesday, February 22, 2022 2:22:22.00 PM GMT-05:00 = 0x017F22E279B0 ms.
    const id = timeOrderedUuid(0x017f22e279b0);
    expect(id).toMatch(/^017f22e2-79b0-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(z.uuid().safeParse(id).success).toBe(true);
  });

  it('sorts by time across milliseconds and draws fresh random bits for every id', () => {
    const t = Date.UTC(2026, 11, 7, 3, 0, 0);
    const earlier = Array.from({ length: 600 }, () => timeOrderedUuid(t));
    const later = timeOrderedUuid(t + 1);
    expect(new Set(earlier).size).toBe(600);
    expect(earlier.every((id) => id < later)).toBe(true);
    expect(timeOrderedUuid(2 ** 48 - 1).startsWith('ffffffff-ffff-7')).toBe(true);
    expect(timeOrderedUuid(0).startsWith('00000000-0000-7')).toBe(true);
  });
});
