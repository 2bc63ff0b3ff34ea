import { z } from 'zod';

/**
 * Options of the passkey, passwordless and email-change flows. `registerFlows`
 * registers {@link DEFAULT_IDENTITY_FLOW_OPTIONS}; set your own with
 * `createPlatform(config, { identityFlows })` (merged over the defaults, nested
 * objects too, and validated). `webauthn` must name the application's real RP ID and origins.
 */
export const identityFlowOptionsSchema = z
  .object({
    webauthn: z
      .object({
        /** Relying Party ID (WebAuthn L2 §5.1.2): the registrable domain, e.g. `example.com`. */
        rpId: z.string().min(1).max(253),
        /** Shown by the authenticator when registering. */
        rpName: z.string().min(1).max(64),
        /** Origins the ceremonies may come from (§7.1 step 9, §7.2 step 13), e.g. `https://app.example.com`. */
        origins: z.array(z.url()).min(1).max(16),
        /** How long a ceremony's challenge is valid; WebAuthn L2 §15.1 recommends 300–600 s for UV required. */
        challengeTtlSeconds: z.number().int().min(30).max(600),
        /** `required`: the authenticator must verify the user (PIN, biometrics) — what makes a passkey sign-in multi-factor. */
        userVerification: z.enum(['required', 'preferred']),
      })
      .strict(),
    /** Lifetime of an emailed 6-digit sign-in code (NIST SP 800-63B 5.1.3.1 / 5.1.4.1: short-lived OTP). */
    signInCodeTtlSeconds: z.number().int().min(60).max(3600),
    /** Wrong guesses one sign-in code accepts before it is closed (NIST SP 800-63B 5.2.2: limit failed attempts). */
    signInCodeMaxAttempts: z.number().int().min(1).max(10),
    /** Magic-link / code requests per address per hour (whether or not the address has an account). */
    emailSignInPerHourPerAddress: z.number().int().min(1).max(1000),
    /** Magic-link / code requests and code attempts per client IP per hour. */
    emailSignInPerHourPerIp: z.number().int().min(1).max(100_000),
    emailChange: z
      .object({
        /** Also require a confirmation from the current address (double confirmation); default true. */
        confirmFromOldAddress: z.boolean(),
        /** How long both links of a request stay valid. */
        requestTtlSeconds: z
          .number()
          .int()
          .min(300)
          .max(7 * 86_400),
        /** How long the old address may undo a completed change. */
        revertWindowSeconds: z
          .number()
          .int()
          .min(3600)
          .max(90 * 86_400),
      })
      .strict(),
  })
  .strict();
export type IdentityFlowOptions = z.output<typeof identityFlowOptionsSchema>;

export const DEFAULT_IDENTITY_FLOW_OPTIONS: IdentityFlowOptions = Object.freeze<IdentityFlowOptions>({
  webauthn: { rpId: 'localhost', rpName: 'platform-data', origins: ['http://localhost:3000'], challengeTtlSeconds: 300, userVerification: 'required' },
  signInCodeTtlSeconds: 600,
  signInCodeMaxAttempts: 5,
  emailSignInPerHourPerAddress: 5,
  emailSignInPerHourPerIp: 30,
  emailChange: { confirmFromOldAddress: true, requestTtlSeconds: 86_400, revertWindowSeconds: 7 * 86_400 },
});
