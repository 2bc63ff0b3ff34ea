import type { DependencyContainer } from 'tsyringe';
import { LockoutPolicy } from './lockout-policy.js';
import { PasswordHasher } from './password-hasher.js';
import { PasswordPolicy } from './password-policy.js';
import { SecretBox } from './secret-box.js';
import { Totp } from './totp.js';

/**
 * Registers the security primitives: one key ring (SecretBox) per platform,
 * shared by every repository that encrypts; the hasher caches its dummy hash.
 */
export function registerSecurity(container: DependencyContainer): void {
  container.registerSingleton(SecretBox);
  container.registerSingleton(PasswordHasher);
  container.registerSingleton(PasswordPolicy);
  container.registerSingleton(LockoutPolicy);
  container.registerSingleton(Totp);
}
