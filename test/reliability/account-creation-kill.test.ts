import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { sql } from 'slonik';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { OAuthSignIn } from '../../src/flows/auth/oauth-sign-in.js';
import { SignUpService } from '../../src/flows/auth/sign-up-service.js';
import { PostgresConnection } from '../../src/postgres/postgres-connection.js';
import { PASSWORD } from '../support/auth-fixtures.js';
import { requireStores } from '../support/require-stores.js';
import { test } from '../support/fixtures.js';
import { sleep } from '../support/sleep.js';
import type { TestEnv } from '../support/test-env.js';
import { Figures, seededRandom, startKillableChild } from './reliability-support.js';

// Account creation is one transaction (AccountCreation, OAuthSignIn's first sign-in): a process SIGKILLed at any
// point of a sign-up leaves either the whole account — user, consents, verified status, identity (OAuth),
// organization, owner membership, security settings, `auth.signup` event — or nothing, so no email is left
// taken by a user without an organization. Each round is a real process (children/account-creation.mjs, the
// built package) with several creations in flight, killed after a seeded delay.
const CHILD = fileURLToPath(new URL('./children/account-creation.mjs', import.meta.url));
const KILLS = 10;
const CALLERS = 4;
/** Seeded kill delays after READY (100–1 100 ms), reported in the figures. */
const SEED = 2026;

const figures = new Figures('faults');
test.afterAll(() => figures.flush());

interface Round {
  readonly begun: ReadonlyMap<string, 'pw' | 'oauth'>;
  readonly answered: ReadonlySet<string>;
  readonly untyped: number;
}

/** Starts the child, lets it create accounts for `ms` after READY, SIGKILLs it and parses what it had written. */
async function killRound(t: TestEnv, prefix: string, ms: number): Promise<Round> {
  const child = await startKillableChild(CHILD, [prefix, String(CALLERS), PASSWORD], { ...t.env, LOG_LEVEL: 'silent' });
  await sleep(ms);
  await child.kill();
  const output = child.output();
  const begun = new Map<string, 'pw' | 'oauth'>();
  const answered = new Set<string>();
  let untyped = 0;
  // A trailing partial line is a write the kill cut.
  for (const line of output.split('\n').slice(0, -1)) {
    const [kind, what, email, cls] = line.split(' ');
    if (kind === 'B') begun.set(email!, what as 'pw' | 'oauth');
    if (kind === 'D') answered.add(email!);
    if (kind === 'E' && cls === 'UNTYPED') untyped++;
  }
  return { begun, answered, untyped };
}

const accountRow = z.object({
  email: z.string(),
  status: z.string(),
  owned: z.number(),
  settings: z.number(),
  signups: z.number(),
  consents: z.number(),
  identities: z.number(),
});

describe.skipIf(!requireStores('postgres', 'redis'))('account creation in a process SIGKILLed at random points', () => {
  test(`${KILLS} kills of a process creating accounts (${CALLERS} at once, password and OAuth): every user has its whole account, no email is blocked`, async ({
    testEnv: t,
    flow: h,
  }) => {
    const random = seededRandom(SEED);
    const prefix = `kill-${Date.now()}`;
    const rounds: Round[] = [];
    for (let k = 0; k < KILLS; k++) rounds.push(await killRound(t, `${prefix}-r${k}`, 100 + Math.floor(random() * 1_000)));
    const begun = new Map(rounds.flatMap((r) => [...r.begun]));
    const answered = new Set(rounds.flatMap((r) => [...r.answered]));

    // As the owner (no row-level security): every user the rounds created, with what its account holds.
    const rows = await h.platform.resolve(PostgresConnection).ownerPool.any(sql.type(accountRow)`
      SELECT u.email::text AS email, u.status::text AS status,
        (SELECT count(*) FROM memberships m WHERE m.user_id = u.id AND m.role = 'owner')::int AS owned,
        (SELECT count(*) FROM memberships m JOIN organization_security_settings s ON s.organization_id = m.organization_id
          WHERE m.user_id = u.id)::int AS settings,
        (SELECT count(*) FROM audit_log a WHERE a.event_type = 'auth.signup' AND a.actor_user_id = u.id)::int AS signups,
        (SELECT count(*) FROM consent_events c WHERE c.user_id = u.id)::int AS consents,
        (SELECT count(*) FROM identities i WHERE i.user_id = u.id)::int AS identities
      FROM users u WHERE u.email LIKE ${`${prefix}-%`}`);
    const whole = (r: z.infer<typeof accountRow>) =>
      r.status === 'active' &&
      r.owned === 1 &&
      r.settings === 1 &&
      r.signups === 1 &&
      (begun.get(r.email) === 'pw' ? r.consents === 2 && r.identities === 0 : r.identities === 1);
    const partial = rows.filter((r) => !whole(r));
    const orphans = rows.filter((r) => r.owned === 0).length;
    const inFlight = [...begun.keys()].filter((e) => !answered.has(e));
    const committedUnanswered = rows.filter((r) => !answered.has(r.email)).length;

    // No email is left blocked: each creation the kills interrupted that left no user can be made again now.
    const existing = new Set(rows.map((r) => r.email));
    const retried = await Promise.all(
      inFlight
        .filter((email) => !existing.has(email))
        .map((email) =>
          begun.get(email) === 'pw'
            ? h.platform
                .resolve(SignUpService)
                .createAccount({ email, password: PASSWORD, organizationName: 'Kill', ageConfirmed: true, termsVersion: 't1', emailVerified: true })
                .then(() => 'created')
            : h.platform
                .resolve(OAuthSignIn)
                .signIn({ provider: 'google', providerUserId: `sub-${email}`, email, emailVerified: true, displayName: 'Kill' })
                .then((r) => r.outcome),
        ),
    );
    const untyped = rounds.reduce((n, r) => n + r.untyped, 0);
    figures.set('a6-sigkill-account-creation', {
      check: `${KILLS} processes each creating accounts (${CALLERS} at once, password sign-ups and OAuth first sign-ins alternating) SIGKILLed 100–1 100 ms after READY (seed ${SEED})`,
      measured: `creations begun ${begun.size}, answered ${answered.size}, in flight at the kills ${inFlight.length} (of which committed ${committedUnanswered}); users ${rows.length}, of them without an organization ${orphans}, without their whole account (organization, owner membership, security settings, auth.signup, consents or identity, active) ${partial.length}; interrupted emails signed up again ${retried.length}, each ${[...new Set(retried)].join('/') || '-'}; untyped errors ${untyped}`,
    });
    expect(rows.length).toBeGreaterThan(0);
    expect(inFlight.length).toBeGreaterThan(0);
    expect(orphans).toBe(0);
    expect(partial).toEqual([]);
    expect(retried.every((outcome) => outcome === 'created')).toBe(true);
    expect(untyped).toBe(0);
  }, 180_000);
});
