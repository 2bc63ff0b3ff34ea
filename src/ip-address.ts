import { isIP } from 'node:net';
import { z } from 'zod';

/** A client's IP address as every input takes it: IPv4 or IPv6 (node:net `isIP`), at most 64 characters. */
export const ipAddressSchema = z
  .string()
  .max(64)
  .refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address');
