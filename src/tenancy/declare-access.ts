import { TenantAccessError } from '../errors.js';
import { AdminScope, assertAdminScope } from './admin-scope.js';
import type { Permission } from './permission-matrix.js';
import { authorize } from './permission-policy.js';
import { isTenantContext, type TenantContext } from './tenant-context.js';

/**
 * What a public repository or flow method needs from its caller:
 * - `requires` — a {@link TenantContext} argument whose role (and, for an
 *   API key, scopes) holds the permission;
 * - `ownAccount` — a TenantContext of a person (not an API key or a job)
 *   acting on their own account (`ctx.userId`);
 * - `adminScope` — an {@link AdminScope} argument: cross-tenant work;
 * - `preTenant` — no caller yet: authentication and the lookups it needs
 *   (the reason is documented in docs/security.md);
 * - `systemJob` — the platform's machinery (workers, reconcilers, sweeps);
 *   it refuses a TenantContext of a person or an API key.
 */
export type AccessDeclaration =
  | { readonly requires: Permission }
  | { readonly ownAccount: true }
  | { readonly adminScope: true }
  | { readonly preTenant: string }
  | { readonly systemJob: string };

export type AccessKind = 'requires' | 'ownAccount' | 'adminScope' | 'preTenant' | 'systemJob';

export function accessKindOf(declaration: AccessDeclaration): AccessKind {
  return Object.keys(declaration)[0] as AccessKind;
}

const declarations = new WeakMap<object, Map<string, AccessDeclaration>>();
const checkedClasses = new WeakSet<object>();

function contextIn(args: readonly unknown[]): TenantContext | undefined {
  return args.find(isTenantContext);
}

/** @throws TenantAccessError naming the permission (or `admin`, `own_account`, `system_job`) */
function check(declaration: AccessDeclaration, args: readonly unknown[]): void {
  if ('requires' in declaration) {
    const ctx = contextIn(args);
    if (!ctx) throw new TenantAccessError('A TenantContext is required', { permission: declaration.requires });
    authorize(ctx, declaration.requires);
  } else if ('ownAccount' in declaration) {
    const ctx = contextIn(args);
    if (!ctx) throw new TenantAccessError('A TenantContext is required', { permission: 'own_account' });
    if (ctx.actor.kind !== 'user')
      throw new TenantAccessError(`Only the account's owner in person may do this, not an ${ctx.actor.kind}`, { permission: 'own_account' });
  } else if ('adminScope' in declaration) {
    assertAdminScope(args.find((a) => AdminScope.is(a)));
  } else if ('systemJob' in declaration) {
    const ctx = contextIn(args);
    if (ctx && ctx.actor.kind !== 'systemJob')
      throw new TenantAccessError(`Only a system job may do this, not a ${ctx.actor.kind}`, { permission: 'system_job' });
  }
}

function wrap(original: (...args: unknown[]) => unknown, declaration: AccessDeclaration): (...args: unknown[]) => unknown {
  switch (original.constructor.name) {
    case 'AsyncFunction':
      return async function (this: unknown, ...args: unknown[]) {
        check(declaration, args);
        return original.apply(this, args);
      };
    case 'AsyncGeneratorFunction':
      return async function* (this: unknown, ...args: unknown[]) {
        check(declaration, args);
        yield* original.apply(this, args) as AsyncGenerator;
      };
    default:
      return function (this: unknown, ...args: unknown[]) {
        check(declaration, args);
        return original.apply(this, args);
      };
  }
}

/**
 * Declares and enforces what a method needs from its caller; the check runs
 * before the method body, so a refused call touches no store. Pair with
 * {@link accessControlled} on the class.
 *
 * @example
 * @declareAccess({ requires: 'settings:manage' })
 * async update(ctx: TenantContext, patch: SecuritySettingsPatch) { … }
 */
export function declareAccess(declaration: AccessDeclaration) {
  return (target: object, key: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor => {
    if (typeof key !== 'string' || typeof descriptor.value !== 'function') throw new TypeError('@declareAccess decorates methods');
    let own = declarations.get(target);
    if (!own) declarations.set(target, (own = new Map()));
    own.set(key, declaration);
    return { ...descriptor, value: wrap(descriptor.value as (...args: unknown[]) => unknown, declaration) };
  };
}

/** The declared public methods of a class (by its prototype). */
export function accessDeclarationsOf(cls: abstract new (...args: never[]) => unknown): ReadonlyMap<string, AccessDeclaration> {
  return declarations.get(cls.prototype as object) ?? new Map();
}

/** The public methods of a class: own prototype functions except the constructor and accessors. */
export function publicMethodsOf(cls: abstract new (...args: never[]) => unknown): string[] {
  const proto = cls.prototype as object;
  return Object.getOwnPropertyNames(proto).filter((name) => {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    return name !== 'constructor' && typeof d?.value === 'function';
  });
}

export function isAccessControlled(cls: abstract new (...args: never[]) => unknown): boolean {
  return checkedClasses.has(cls);
}

/**
 * Class decorator: every public method must carry {@link declareAccess};
 * otherwise importing the class throws, naming the method.
 * @throws TypeError naming `Class.method` when a public method has no declaration
 */
export function accessControlled<T extends abstract new (...args: never[]) => unknown>(cls: T): T {
  const declared = accessDeclarationsOf(cls);
  const missing = publicMethodsOf(cls).filter((m) => !declared.has(m));
  if (missing.length > 0) {
    throw new TypeError(`${cls.name}: public method(s) ${missing.map((m) => `${cls.name}.${m}`).join(', ')} have no @declareAccess (see docs/security.md)`);
  }
  checkedClasses.add(cls);
  return cls;
}
