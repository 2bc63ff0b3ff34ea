import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { ConflictError, PlatformError, ValidationError } from '../../errors.js';
import { SignUpService } from '../../flows/auth/sign-up-service.js';
import { createLogger } from '../../logger.js';
import { createPlatform, type Platform } from '../../platform.js';
import { AccountRepository } from '../../postgres/repositories/account-repository.js';
import { MembershipRepository } from '../../postgres/repositories/membership-repository.js';
import { OrganizationRepository } from '../../postgres/repositories/organization-repository.js';
import { PersonaRepository } from '../../postgres/repositories/persona-repository.js';
import { UserRepository, type UserRecord } from '../../postgres/repositories/user-repository.js';
import { PasswordHasher } from '../../security/password-hasher.js';
import { PasswordPolicy } from '../../security/password-policy.js';
import { createTenantContext, type TenantContext } from '../../tenancy/tenant-context.js';

export interface SeedResult {
  readonly adminEmail: string;
  readonly adminCreated: boolean;
  /** Set only when the password was generated here: print it once, store it nowhere. */
  readonly generatedPassword: string | undefined;
  readonly organizationSlug: string;
  readonly organizationCreated: boolean;
  readonly memberEmail: string;
  readonly memberCreated: boolean;
  /** The member's generated password, set only when the member was created here: print it once. */
  readonly memberPassword: string | undefined;
  /** Names of the starter personas created by this run (none when they exist already). */
  readonly personasCreated: readonly string[];
}

/**
 * The demo organization's starter personas (seed guide NeuraFormAI: an
 * organization starts with a few assistants to pick from, not an empty list).
 */
const STARTER_PERSONAS = [
  { name: 'Assistant', description: 'A concise, friendly general assistant.', traits: { tone: 'friendly', verbosity: 'concise' } },
  { name: 'Support Agent', description: 'Answers customer questions from the knowledge base, cites its sources.', traits: { tone: 'patient', cites: true } },
  { name: 'Tutor', description: 'Explains step by step and checks understanding.', traits: { tone: 'encouraging', style: 'socratic' } },
] as const;

const ORGANIZATION_SLUG = 'demo';
const DEMO_CREDITS = 1000;
/** Draws before a generated password gives up; each draw breaks the default policy with probability ≈ 1.7 % (no digit). */
const GENERATION_DRAWS = 64;

/**
 * A random 24-character password (144 bits) that `policy` accepts for `email`: drawn again until it does, so
 * it is uniform among the passwords the policy admits. Drawn once, 1 in ~60 had no digit and the default policy
 * (a digit required) refused the seed's own admin with VALIDATION_FAILED.
 * @throws PlatformError `CONFIG_INVALID` when no draw passes: the configured policy is one random passwords cannot meet
 */
export async function generatedPassword(policy: PasswordPolicy, email: string): Promise<string> {
  for (let draw = 0; draw < GENERATION_DRAWS; draw++) {
    const candidate = randomBytes(18).toString('base64url');
    if ((await policy.check(candidate, { email })).ok) return candidate;
  }
  throw new PlatformError(
    'CONFIG_INVALID',
    `no generated password met the configured password policy in ${GENERATION_DRAWS} draws; set PLATFORM_ADMIN_PASSWORD`,
  );
}
/** Another seed run (or process) created the row first: this run treats it as existing. */
const isTaken = (error: unknown, constraint: string) => error instanceof ConflictError && error.constraint === constraint;

/**
 * Creates the admin user (must change the password at the first sign-in: the
 * sign-in answers `password_change_required` with a ticket), the demo
 * organization with the admin as owner, a member account (role `member`, seed
 * guides CAP Platform / Farout: a non-admin account to try permissions with)
 * and the starter personas, unless they exist — through the same flows and
 * repositories as the application (`SignUpService.createAccount`,
 * `MembershipRepository` invitation + acceptance, `PersonaRepository`), so
 * the seed obeys the same rules, writes the same audit events and runs as the
 * application role. Idempotent, and safe to run concurrently (a row another
 * run created first counts as existing); an existing account's password is
 * never changed.
 * @throws ValidationError when PLATFORM_ADMIN_PASSWORD is too short (or breaks the password policy), or an email is malformed or both name one address
 * @throws ConflictError when the admin is missing but an organization `demo` exists (owned by someone else)
 */
export async function seedDatabase(config: Config, env: Readonly<Record<string, string | undefined>>): Promise<SeedResult> {
  const adminEmail = (env.PLATFORM_ADMIN_EMAIL || 'admin@example.com').toLowerCase();
  const memberEmail = (env.PLATFORM_MEMBER_EMAIL || 'member@example.com').toLowerCase();
  const given = env.PLATFORM_ADMIN_PASSWORD || undefined;
  if (given !== undefined && given.length < 12) {
    throw new ValidationError([{ path: 'PLATFORM_ADMIN_PASSWORD', message: 'must be at least 12 characters' }]);
  }
  for (const [path, email] of [
    ['PLATFORM_ADMIN_EMAIL', adminEmail],
    ['PLATFORM_MEMBER_EMAIL', memberEmail],
  ] as const) {
    if (!z.email().safeParse(email).success) throw new ValidationError([{ path, message: `must be an email address, got "${email}"` }]);
  }
  if (adminEmail === memberEmail) throw new ValidationError([{ path: 'PLATFORM_MEMBER_EMAIL', message: 'must differ from PLATFORM_ADMIN_EMAIL' }]);

  await using platform = createPlatform(config, { stores: ['postgres'], logger: createLogger('silent') });
  await platform.start();
  const admin = await seedAdmin(platform, adminEmail, given);
  const ctx = createTenantContext({ organizationId: admin.organizationId, userId: admin.user.id, role: 'owner' });
  await seedDemoPlan(platform, ctx);
  const member = await seedMember(platform, ctx, memberEmail);
  const personasCreated = await seedPersonas(platform, ctx);
  return {
    adminEmail,
    adminCreated: admin.created,
    generatedPassword: admin.created && given === undefined ? admin.password : undefined,
    organizationSlug: ORGANIZATION_SLUG,
    organizationCreated: admin.created,
    memberEmail,
    memberCreated: member.password !== undefined,
    memberPassword: member.password,
    personasCreated,
  };
}

/** The admin and the demo organization, created together by the sign-up flow (owner membership and security settings in its transaction). */
async function seedAdmin(
  platform: Platform,
  email: string,
  given: string | undefined,
): Promise<{ user: UserRecord; organizationId: string; created: boolean; password: string }> {
  const password = given ?? (await generatedPassword(platform.resolve(PasswordPolicy), email));
  const existing = await platform.resolve(UserRepository).findCredentialsByEmail(email);
  if (!existing) {
    try {
      const { user, organization } = await platform.resolve(SignUpService).createAccount({
        email,
        password,
        displayName: 'Administrator',
        organizationName: 'Demo Organization',
        organizationSlug: ORGANIZATION_SLUG,
        emailVerified: true,
        ageConfirmed: true,
        // A generated or operator-chosen password is seen by whoever ran the seed: the admin replaces it (OWASP ASVS v4 2.1.x).
        mustChangePassword: true,
      });
      return { user, organizationId: organization.id, created: true, password };
    } catch (error) {
      if (!isTaken(error, 'users_email_key')) throw error;
    }
  }
  const user = existing?.user ?? (await platform.resolve(UserRepository).findCredentialsByEmail(email))?.user;
  const membership = user && (await platform.resolve(AccountRepository).listMemberships(user.id)).find((m) => m.organizationSlug === ORGANIZATION_SLUG);
  if (!user || !membership) throw new ConflictError(`${email} exists but is not a member of organization "${ORGANIZATION_SLUG}"`, { store: 'postgres' });
  return { user, organizationId: membership.organizationId, created: false, password };
}

/**
 * The demo organization's plan: tier `pro` with 1000 credits. Two writes, so
 * they converge instead of relying on one run finishing: credits are topped up
 * to 1000 first and the tier is written last, as the mark that the plan is in
 * place — a run stopped between them (or before either) is completed by the
 * next run, and an organization already on `pro` is left alone (its credits
 * may have been spent since).
 */
async function seedDemoPlan(platform: Platform, ctx: TenantContext): Promise<void> {
  const organizations = platform.resolve(OrganizationRepository);
  const organization = await organizations.getCurrent(ctx);
  if (organization.tier === 'pro') return;
  if (organization.credits < DEMO_CREDITS) await organizations.addCredits(ctx, DEMO_CREDITS - organization.credits);
  await organizations.update(ctx, { tier: 'pro' });
}

/** The member account, invited by the admin and accepting at once (the membership flow every member goes through). */
async function seedMember(platform: Platform, ctx: TenantContext, email: string): Promise<{ password: string | undefined }> {
  const users = platform.resolve(UserRepository);
  let password: string | undefined;
  let member = (await users.findCredentialsByEmail(email))?.user;
  if (!member) {
    const candidate = await generatedPassword(platform.resolve(PasswordPolicy), email);
    try {
      const created = await users.create({
        email,
        displayName: 'Demo Member',
        passwordHash: await platform.resolve(PasswordHasher).hash(candidate),
        ageConfirmed: true,
      });
      member = await users.setStatus(created.id, 'active');
      password = candidate;
    } catch (error) {
      if (!isTaken(error, 'users_email_key')) throw error;
      member = (await users.findCredentialsByEmail(email))?.user;
    }
  }
  const memberships = platform.resolve(MembershipRepository);
  if (member && !(await memberships.get(ctx, member.id))) await addMember(memberships, ctx, member.id);
  return { password };
}

/**
 * Invites and accepts at once. An invitation left open by an interrupted run is revoked and replaced
 * (its token was never shown); a membership another run completed first counts as done.
 */
async function addMember(memberships: MembershipRepository, ctx: TenantContext, userId: string, retry = true): Promise<void> {
  try {
    const { token } = await memberships.add(ctx, { userId, role: 'member' });
    await memberships.acceptInvitation(token);
  } catch (error) {
    if (isTaken(error, 'memberships_organization_user_key')) return;
    if (!retry || !isTaken(error, 'membership_invitations_open_key')) throw error;
    const open = (await memberships.listInvitations(ctx, { limit: 100 })).items.filter((i) => i.userId === userId && i.answer === null);
    await Promise.all(open.map((i) => memberships.revokeInvitation(ctx, i.id)));
    await addMember(memberships, ctx, userId, false);
  }
}

async function seedPersonas(platform: Platform, ctx: TenantContext): Promise<readonly string[]> {
  const personas = platform.resolve(PersonaRepository);
  const existing = new Set((await personas.list(ctx, { limit: 100 })).items.map((p) => p.name.toLowerCase()));
  const created: string[] = [];
  for (const p of STARTER_PERSONAS.filter((s) => !existing.has(s.name.toLowerCase()))) {
    try {
      await personas.create(ctx, { name: p.name, description: p.description, traits: p.traits });
      created.push(p.name);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  return created;
}
