import { z } from 'zod';

/**
 * A username: 3–32 characters of `a-z`, `0-9`, `_`, `.`, `-`, a letter or digit at
 * each end, no `..`; compared and stored lowercase. Discord's rule since its 2023
 * username change is the model (2–32 of lowercase `a-z 0-9 _ .`, no `..`:
 * support.discord.com "Usernames and Display Names"), with GitHub's hyphen (and
 * its "cannot begin or end with a hyphen") and a minimum of 3. No `@`, so a
 * username can never be mistaken for an email at sign-in. Mirrored by the
 * `users_username_format` check (sql/0113).
 */
const USERNAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{1,30}[a-z0-9]$/;

export const usernameInput = z
  .string()
  .trim()
  .toLowerCase()
  .regex(USERNAME_PATTERN, 'must be 3–32 characters of a-z, 0-9, "_", "." or "-", starting and ending with a letter or digit')
  .refine((v) => !v.includes('..'), 'must not contain ".."');

/**
 * An IANA time zone name (`Europe/Paris`), stored as ICU canonicalizes it
 * (`europe/paris` → `Europe/Paris`, `Etc/UTC` → `UTC`). `Intl.DateTimeFormat`
 * refuses what is no zone (RangeError, ECMA-402 §11.1.2 IsValidTimeZoneName);
 * offset zones (`+01:00`), which it accepts since ES2024, are no IANA name and refused.
 */
export const timezoneInput = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .transform((value, ctx) => {
    let resolved: string;
    try {
      resolved = new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone name (e.g. Europe/Paris)' });
      return z.NEVER;
    }
    if (/^[+-]/.test(resolved)) {
      ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone name, not a UTC offset' });
      return z.NEVER;
    }
    return resolved;
  });

/**
 * A BCP 47 language tag (RFC 5646), stored in canonical form
 * (`Intl.getCanonicalLocales`: `en-us` → `en-US`, `zh-hant-tw` → `zh-Hant-TW`);
 * at most 35 characters, the length RFC 5646 §4.4.1 asks implementations to support.
 */
export const languageInput = z
  .string()
  .trim()
  .min(2)
  .max(35)
  .transform((value, ctx) => {
    try {
      const [canonical] = Intl.getCanonicalLocales(value);
      if (canonical !== undefined && canonical.length <= 35) return canonical;
    } catch {
      // RangeError: not a well-formed tag.
    }
    ctx.addIssue({ code: 'custom', message: 'must be a BCP 47 language tag (e.g. en-US)' });
    return z.NEVER;
  });

/** An https URL without credentials, at most 2,048 characters (an avatar shown to other users). */
export const avatarUrlInput = z
  .url({ protocol: /^https$/, hostname: z.regexes.domain, error: 'must be an https URL' })
  .max(2048)
  .refine((v) => {
    const url = new URL(v);
    return url.username === '' && url.password === '';
  }, 'must not carry credentials');

/** A first or last name as the person writes it. */
export const personNameInput = z.string().trim().min(1).max(100);
