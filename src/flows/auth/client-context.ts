import { z } from 'zod';
import { ipAddressSchema } from '../../ip-address.js';

/** Who is calling, as far as the transport knows: for risk scoring, sessions and the audit log. */
export const clientContextSchema = z
  .object({
    ip: ipAddressSchema.optional(),
    userAgent: z.string().max(1000).optional(),
    /** A stable id the client keeps per device (cookie, app install id); new ones raise the login risk. */
    deviceId: z.string().min(1).max(200).optional(),
    /**
     * ISO 3166-1 alpha-2 country of the request ("DE"), resolved by the application (its GeoIP
     * database, or a CDN header such as CloudFront-Viewer-Country); recorded in the audit log.
     * The package ships no IP-to-location data and looks nothing up.
     */
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code, e.g. "DE"')
      .optional(),
    /** ISO 3166-2 subdivision of the request ("DE-BY"), resolved by the application like `country`. */
    region: z
      .string()
      .regex(/^[A-Z]{2}-[A-Z0-9]{1,3}$/, 'must be an ISO 3166-2 subdivision code, e.g. "DE-BY"')
      .optional(),
  })
  .strict()
  .default({});
export type ClientContext = z.input<typeof clientContextSchema>;
export type ParsedClientContext = z.output<typeof clientContextSchema>;

/** The request fields an audit event records: address, user agent and the application-supplied location. */
export function clientAuditFields(client: ParsedClientContext): { ip: string | null; userAgent: string | null; country: string | null; region: string | null } {
  return { ip: client.ip ?? null, userAgent: client.userAgent ?? null, country: client.country ?? null, region: client.region ?? null };
}
