import { SignUpService, VerificationService, type Platform } from 'platform-data';

/**
 * The one place this service creates accounts: a new organization with its
 * owner, in `pending_verification` until the emailed link is followed, and
 * the verification mail sent through the registered AuthNotifier.
 */
export async function signUp(platform: Platform, input: { email: string; password: string; organizationName: string }): Promise<void> {
  const { user } = await platform.resolve(SignUpService).signUp({ ...input, ageConfirmed: true });
  await platform.resolve(VerificationService).requestEmailVerification(user.id);
}
