import { BlockList, isIP } from 'node:net';

const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Whether `ip` falls inside an organization's IP allow-list (CIDR blocks as
 * `organization_security_settings.ip_allow_list` stores them, e.g.
 * `203.0.113.0/24`, `2001:db8::/32`; a bare address counts as a single host).
 *
 * - An empty list allows every address (no restriction configured).
 * - An unknown client address (`undefined`) is refused when a list exists:
 *   an allow-list cannot be satisfied by an address nobody knows (fail closed).
 * - An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, what a dual-stack
 *   socket reports) is matched as the IPv4 address it carries.
 *
 * Same semantics as `SecuritySettingsRepository.isIpAllowed` (`inet <<= ANY(cidr[])`),
 * evaluated in memory so a caller that already holds the settings needs no query.
 * Malformed entries are skipped (the repository's zod schema never stores one).
 */
export function isIpAllowed(ip: string | undefined, allowList: readonly string[]): boolean {
  if (allowList.length === 0) return true;
  if (ip === undefined) return false;
  const mapped = MAPPED_V4.exec(ip)?.[1];
  const address = mapped !== undefined && isIP(mapped) === 4 ? mapped : ip;
  const family = isIP(address);
  if (family === 0) return false;
  const blocks = new BlockList();
  for (const entry of allowList) {
    const [network = '', prefixText] = entry.split('/');
    const entryFamily = isIP(network);
    if (entryFamily === 0) continue;
    const prefix = prefixText === undefined ? (entryFamily === 4 ? 32 : 128) : Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (entryFamily === 4 ? 32 : 128)) continue;
    blocks.addSubnet(network, prefix, entryFamily === 4 ? 'ipv4' : 'ipv6');
  }
  return blocks.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
