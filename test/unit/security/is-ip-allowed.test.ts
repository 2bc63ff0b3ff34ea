import { describe, expect, it } from 'vitest';
import { isIpAllowed } from '../../../src/security/is-ip-allowed.js';

describe('isIpAllowed', () => {
  it('allows everything when the list is empty', () => {
    expect(isIpAllowed('203.0.113.7', [])).toBe(true);
    expect(isIpAllowed(undefined, [])).toBe(true);
  });

  it('matches IPv4 and IPv6 blocks as cidr[] stores them, and bare hosts', () => {
    const list = ['198.51.100.0/24', '2001:db8::/32', '192.0.2.10/32', '10.0.0.1'];
    expect(isIpAllowed('198.51.100.255', list)).toBe(true);
    expect(isIpAllowed('198.51.101.1', list)).toBe(false);
    expect(isIpAllowed('2001:db8:ffff::1', list)).toBe(true);
    expect(isIpAllowed('2001:db9::1', list)).toBe(false);
    expect(isIpAllowed('192.0.2.10', list)).toBe(true);
    expect(isIpAllowed('192.0.2.11', list)).toBe(false);
    expect(isIpAllowed('10.0.0.1', list)).toBe(true);
  });

  it('treats an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(isIpAllowed('::ffff:198.51.100.4', ['198.51.100.0/24'])).toBe(true);
    expect(isIpAllowed('::FFFF:203.0.113.4', ['198.51.100.0/24'])).toBe(false);
  });

  it('fails closed for an unknown or malformed address, and skips malformed entries', () => {
    expect(isIpAllowed(undefined, ['198.51.100.0/24'])).toBe(false);
    expect(isIpAllowed('not-an-ip', ['198.51.100.0/24'])).toBe(false);
    expect(isIpAllowed('198.51.100.4', ['garbage', '198.51.100.0/99', '198.51.100.0/24'])).toBe(true);
    expect(isIpAllowed('0.0.0.1', ['0.0.0.0/0'])).toBe(true);
  });
});
