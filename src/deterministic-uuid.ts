import { createHash } from 'node:crypto';

/** This package's UUID namespace (a random v4, fixed forever: changing it changes every derived id). */
export const PLATFORM_UUID_NAMESPACE = '5b0f6f3e-4a52-4c4e-9d43-6f0b9a1c2e71';

/**
 * A name-based UUID as RFC 9562 version 5 defines it: SHA-1 of the namespace
 * bytes followed by the UTF-8 name, version and variant bits set. The same
 * inputs always give the same id, so a retried write overwrites instead of
 * duplicating.
 *
 * @example
 * deterministicUuid(`${documentId}:${version}:${ordinal}`) // 'xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx'
 */
export function deterministicUuid(name: string, namespace: string = PLATFORM_UUID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  if (ns.length !== 16) throw new TypeError('namespace must be a UUID');
  const bytes = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
