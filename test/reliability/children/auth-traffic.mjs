// Mixed sign-in traffic in a process of its own, so a fault test can SIGKILL it mid-call
// (test/reliability/auth-kill.test.ts). Runs against the built package (dist/, built by the
// global setup). Every line is written synchronously (fs.writeSync on the pipe) before the
// next call starts, so what the parent read is exactly what this process had received.
//   B <op> <caller> [sessionId]  — a call begins (op: L login, R refresh, O logout)
//   L <caller> <sessionId>       — login answered with this session
//   R <caller> <sessionId>       — refresh answered (successor held)
//   O <caller> <sessionId>       — logout answered
//   E <op> <caller> <class> <code> — the call failed (class UNTYPED when not a PlatformError)
import { writeSync } from 'node:fs';
import { createPlatform, loadConfig, PasswordSignIn, PlatformError, RefreshRotation, SessionRevoker } from '../../../dist/index.js';

const users = JSON.parse(process.argv[2]);
const out = (line) => writeSync(1, `${line}\n`);
const platform = createPlatform(loadConfig(process.env), { stores: ['postgres', 'redis'] });
await platform.start();
const signIn = platform.resolve(PasswordSignIn);
const rotation = platform.resolve(RefreshRotation);
const revoker = platform.resolve(SessionRevoker);
out('READY');

async function call(op, caller, sessionId, work) {
  out(`B ${op} ${caller}${sessionId ? ` ${sessionId}` : ''}`);
  try {
    return await work();
  } catch (error) {
    out(`E ${op} ${caller} ${error instanceof PlatformError ? error.constructor.name : 'UNTYPED'} ${error?.code ?? '-'}`);
    await new Promise((r) => setTimeout(r, 20));
    return undefined;
  }
}

async function caller(index, email, password) {
  for (let round = 0; ; round++) {
    const login = await call('L', index, undefined, () => signIn.login(email, password, { ip: '198.51.100.9' }));
    if (!login || login.status !== 'signed_in') continue;
    out(`L ${index} ${login.sessionId}`);
    let token = login.refreshToken;
    for (let r = 0; r < 2; r++) {
      const refreshed = await call('R', index, login.sessionId, () => rotation.refresh(token, { ip: '198.51.100.9' }));
      if (!refreshed) break;
      token = refreshed.refreshToken;
      out(`R ${index} ${login.sessionId}`);
    }
    if (round % 2 === 0 && (await call('O', index, login.sessionId, () => revoker.logout(login.sessionId))) !== undefined) out(`O ${index} ${login.sessionId}`);
  }
}

await Promise.all(users.map((u, i) => caller(i, u.email, u.password)));
