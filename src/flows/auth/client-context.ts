import { isIP } from 'node:net';
import { z } from 'zod';

/** Who is calling, as far as the transport knows: for risk scoring, sessions and the audit log. */
export const clientContextSchema = z
  .object({
    ip: z.string().max(64).refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address').optional(),
    userAgent: z.string().max(1000).optional(),
    /** A stable id the client keeps per device (cookie, app install id); new ones raise the login risk. */
    deviceId: z.string().min(1).max(200).optional(),
  })
  .strict()
  .default({});
export type ClientContext = z.input<typeof clientContextSchema>;
export type ParsedClientContext = z.output<typeof clientContextSchema>;
