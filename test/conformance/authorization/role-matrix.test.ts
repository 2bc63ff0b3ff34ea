import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TenantAccessError } from '../../../src/errors.js';
import { accessDeclarationsOf, accessKindOf, isAccessControlled, publicMethodsOf, type AccessDeclaration } from '../../../src/tenancy/declare-access.js';
import { MEMBERSHIP_ROLES, type MembershipRole } from '../../../src/tenancy/membership-role.js';
import { PERMISSION_MATRIX, PERMISSIONS, type Permission } from '../../../src/tenancy/permission-matrix.js';
import { createTenantContext, type TenantContext } from '../../../src/tenancy/tenant-context.js';
import { discoverAccessClasses } from './discover-access-classes.js';

/**
 * Every public method of every repository and flow, against the matrix:
 * for each role, acting in person and through API keys narrower than the
 * role, the call is refused (TenantAccessError naming the permission) exactly
 * when PERMISSION_MATRIX says so — and a refused call touches no store: the
 * instance's dependencies are poisoned, so reaching one shows up.
 */
const classes = await discoverAccessClasses();
const ORG = randomUUID();
const USER = randomUUID();

class StoreTouched extends Error {}
function poisonedInstance(cls: (typeof classes)[number]['cls']): { instance: Record<string, (...args: unknown[]) => unknown>; touched: () => boolean } {
  let touched = false;
  const poison = new Proxy(
    {},
    {
      get(_t, key) {
        if (key === 'then') return undefined;
        touched = true;
        throw new StoreTouched(String(key));
      },
    },
  );
  let instance: object;
  try {
    instance = new (cls as unknown as new (...args: unknown[]) => object)(...Array.from({ length: 12 }, () => poison));
  } catch {
    instance = Object.create(cls.prototype as object) as object;
  }
  touched = false;
  return { instance: instance as Record<string, (...args: unknown[]) => unknown>, touched: () => touched };
}

async function outcome(call: () => unknown): Promise<unknown> {
  try {
    const result = call();
    const iterator = result as AsyncGenerator | undefined;
    if (iterator && typeof iterator.next === 'function' && Symbol.asyncIterator in iterator) await iterator.next();
    else await result;
    return undefined;
  } catch (error) {
    return error;
  }
}

type Caller = { readonly label: string; readonly ctx: TenantContext; readonly allowed: (permission: Permission) => boolean };

/** Expected answers come from the matrix itself, not from `isAllowed`. */
function callers(role: MembershipRole): Caller[] {
  const holds = (p: Permission) => (PERMISSION_MATRIX[p].roles as readonly string[]).includes(role);
  const key = (scopes: string[]) =>
    createTenantContext({ organizationId: ORG, userId: USER, role, scopes, actor: { kind: 'apiKey', keyId: randomUUID(), creatorUserId: USER, scopes } });
  return [
    { label: `${role} in person`, ctx: createTenantContext({ organizationId: ORG, userId: USER, role }), allowed: holds },
    ...PERMISSIONS.map((scope) => ({
      label: `${role}'s API key scoped ${scope}`,
      ctx: key([scope]),
      allowed: (p: Permission) => p === scope && holds(p) && PERMISSION_MATRIX[p].apiKey,
    })),
    { label: `${role}'s unscoped API key`, ctx: key([]), allowed: (p: Permission) => holds(p) && PERMISSION_MATRIX[p].apiKey },
  ];
}

const declared = classes.flatMap(({ className, cls }) => [...accessDeclarationsOf(cls)].map(([method, d]) => ({ className, cls, method, d })));
const byKind = (kind: ReturnType<typeof accessKindOf>) => declared.filter((m) => accessKindOf(m.d) === kind);

describe('every public repository and flow method declares its access', () => {
  it('finds the repositories and flows', () => {
    expect(classes.length).toBeGreaterThan(30);
  });

  it.each(classes.map((c) => [c.className, c] as const))('%s: every public method is declared and the class is checked', (_name, { cls }) => {
    const declarations = accessDeclarationsOf(cls);
    expect(publicMethodsOf(cls).filter((m) => !declarations.has(m))).toEqual([]);
    expect(isAccessControlled(cls)).toBe(true);
    for (const d of declarations.values()) {
      if ('preTenant' in d) expect(d.preTenant.length).toBeGreaterThan(10);
      if ('systemJob' in d) expect(d.systemJob.length).toBeGreaterThan(10);
    }
  });
});

describe.each(MEMBERSHIP_ROLES.map((r) => [r] as const))('role %s: allowed or refused as PERMISSION_MATRIX says, before any store is touched', (role) => {
  const cases = byKind('requires').flatMap((m) => callers(role).map((c) => ({ ...m, caller: c })));
  it(`${cases.length} calls`, async () => {
    const wrong: string[] = [];
    for (const { className, cls, method, d, caller } of cases) {
      const permission = (d as Extract<AccessDeclaration, { requires: Permission }>).requires;
      const { instance, touched } = poisonedInstance(cls);
      const error = await outcome(() => instance[method]?.(caller.ctx));
      const refused = error instanceof TenantAccessError && error.permission === permission;
      if (refused === caller.allowed(permission)) wrong.push(`${className}.${method} (${permission}) by ${caller.label}: ${refused ? 'refused' : 'allowed'}`);
      if (refused && touched()) wrong.push(`${className}.${method} by ${caller.label}: refused only after touching a store`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('the other kinds of declaration', () => {
  const owner = createTenantContext({ organizationId: ORG, userId: USER, role: 'owner' });
  const ownersKey = createTenantContext({
    organizationId: ORG,
    userId: USER,
    role: 'owner',
    actor: { kind: 'apiKey', keyId: randomUUID(), creatorUserId: USER, scopes: [] },
  });

  it.each(byKind('ownAccount').map((m) => [`${m.className}.${m.method}`, m] as const))(
    '%s: the user in person only; never an API key, never without a context',
    async (_n, { cls, method }) => {
      for (const args of [[ownersKey], [], [{ ...owner }]]) {
        const { instance, touched } = poisonedInstance(cls);
        expect(await outcome(() => instance[method]?.(...args))).toMatchObject({ code: 'TENANT_ACCESS_DENIED' });
        expect(touched()).toBe(false);
      }
      const { instance } = poisonedInstance(cls);
      expect(await outcome(() => instance[method]?.(owner))).not.toBeInstanceOf(TenantAccessError);
    },
  );

  it.each(byKind('adminScope').map((m) => [`${m.className}.${m.method}`, m] as const))(
    '%s: refused without an AdminScope, even to an owner',
    async (_n, { cls, method }) => {
      const { instance, touched } = poisonedInstance(cls);
      expect(await outcome(() => instance[method]?.(owner, randomUUID()))).toMatchObject({ code: 'TENANT_ACCESS_DENIED', permission: 'admin' });
      expect(touched()).toBe(false);
    },
  );

  it.each(byKind('systemJob').map((m) => [`${m.className}.${m.method}`, m] as const))('%s: refused to a tenant caller', async (_n, { cls, method }) => {
    const { instance, touched } = poisonedInstance(cls);
    expect(await outcome(() => instance[method]?.(owner))).toMatchObject({ code: 'TENANT_ACCESS_DENIED', permission: 'system_job' });
    expect(touched()).toBe(false);
  });
});
