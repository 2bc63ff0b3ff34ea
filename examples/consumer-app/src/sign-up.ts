import { SignUpService, type Platform } from 'platform-data';

/**
 * The one place this service creates accounts: a new organization with its
 * owner, in `pending_verification` until the emailed link is followed, and
 * the verification mail sent through the registered AuthNotifier. The answer
 * is the same for an address that already has an account (its owner is told
 * instead), so the endpoint does not reveal who has an account.
 */
export async function signUp(platform: Platform, input: { email: string; password: string; organizationName: string }): Promise<void> {
  await platform.resolve(SignUpService).signUp({ ...input, ageConfirmed: true });
}
