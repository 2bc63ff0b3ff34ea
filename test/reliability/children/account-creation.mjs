// Account creation in a process of its own, so test/reliability/account-creation-kill.test.ts can SIGKILL it
// between (or inside) the writes of a sign-up. Runs against the built package (dist/, built by the global setup).
//   argv[2]: a prefix for the emails (unique per round), argv[3]: how many creations run at once, argv[4]: the password.
// Each caller alternates a password sign-up (SignUpService.createAccount, verified, with terms consent) and an
// OAuth first sign-in (OAuthSignIn.signIn, verified). Lines, each written synchronously before the next step:
//   READY                      — the platform is started
//   B <kind> <email>           — a creation begins (kind: pw | oauth)
//   D <kind> <email>           — it answered
//   E <kind> <email> <class> <code> — it failed (class UNTYPED when not a PlatformError)
import { writeSync } from 'node:fs';
import { createPlatform, loadConfig, OAuthSignIn, PlatformError, SignUpService } from '../../../dist/index.js';

const [prefix, callers, password] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const out = (line) => writeSync(1, `${line}\n`);
const platform = createPlatform(loadConfig(process.env), { stores: ['postgres', 'redis'] });
await platform.start();
const signUp = platform.resolve(SignUpService);
const oauth = platform.resolve(OAuthSignIn);
out('READY');

async function caller(index) {
  for (let n = 0; ; n++) {
    const kind = n % 2 === 0 ? 'pw' : 'oauth';
    const email = `${prefix}-${kind}-${index}-${n}@example.test`;
    out(`B ${kind} ${email}`);
    try {
      if (kind === 'pw') {
        await signUp.createAccount({ email, password, organizationName: 'Kill', ageConfirmed: true, termsVersion: 't1', emailVerified: true });
      } else {
        await oauth.signIn({ provider: 'google', providerUserId: `sub-${email}`, email, emailVerified: true, displayName: 'Kill' });
      }
      out(`D ${kind} ${email}`);
    } catch (error) {
      out(`E ${kind} ${email} ${error instanceof PlatformError ? error.constructor.name : 'UNTYPED'} ${error?.code ?? '-'}`);
    }
  }
}

await Promise.all(Array.from({ length: callers }, (_, i) => caller(i)));
