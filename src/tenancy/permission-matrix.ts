import type { MembershipRole } from './membership-role.js';

/** One row of the {@link PERMISSION_MATRIX}. */
export interface PermissionRule {
  /** The membership roles that hold the permission. */
  readonly roles: readonly MembershipRole[];
  /** May an API key's scopes grant it (still only when the key's creator holds it now)? */
  readonly apiKey: boolean;
  /** What it allows, for docs/security.md. */
  readonly allows: string;
}

const ALL: readonly MembershipRole[] = ['owner', 'admin', 'member', 'viewer', 'developer'];
const WRITERS: readonly MembershipRole[] = ['owner', 'admin', 'member', 'developer'];
const MANAGERS: readonly MembershipRole[] = ['owner', 'admin'];

/**
 * The only source of who may do what: permissions × membership roles, plus
 * what an API key's scopes can grant. Every repository and flow method
 * declares one of these permissions (`@declareAccess`), `isAllowed` reads
 * this table, and docs/security.md prints it (a test keeps the two equal).
 */
export const PERMISSION_MATRIX = {
  'organization:read': { roles: ALL, apiKey: true, allows: 'read the current organization' },
  'organization:write': { roles: MANAGERS, apiKey: false, allows: 'rename, change tier and settings' },
  'organization:delete': { roles: ['owner'], apiKey: false, allows: 'soft-delete the organization' },
  'billing:manage': { roles: ['owner'], apiKey: false, allows: 'add credits' },
  'billing:spend': { roles: WRITERS, apiKey: true, allows: 'debit credits for usage' },
  'members:read': { roles: ALL, apiKey: true, allows: "read memberships and the members' user rows" },
  'members:manage': { roles: MANAGERS, apiKey: false, allows: 'invite, re-role and remove members (not owners)' },
  'members:owner': { roles: ['owner'], apiKey: false, allows: 'grant or take away the owner role' },
  'settings:read': { roles: ALL, apiKey: true, allows: 'read security settings' },
  'settings:manage': { roles: MANAGERS, apiKey: false, allows: 'change MFA requirement, password policy, IP allow-list' },
  'audit:read': { roles: MANAGERS, apiKey: true, allows: "read the organization's audit log" },
  'sessions:read': { roles: MANAGERS, apiKey: false, allows: "list the organization's sessions" },
  'api_keys:manage': { roles: ['owner', 'admin', 'developer'], apiKey: true, allows: 'create, list, change and revoke API keys (never wider than the caller)' },
  'integrations:manage': { roles: WRITERS, apiKey: true, allows: "store, read and delete one's own integration tokens (per user and organization)" },
  'personas:read': { roles: ALL, apiKey: true, allows: 'read personas and voice cache' },
  'personas:write': { roles: WRITERS, apiKey: true, allows: 'create, change, delete personas; set preferences; fill the voice cache' },
  'conversations:read': { roles: ALL, apiKey: true, allows: 'read conversations and messages' },
  'conversations:write': { roles: WRITERS, apiKey: true, allows: 'create, rename, archive, delete conversations; append messages' },
  'knowledge:read': { roles: ALL, apiKey: true, allows: 'read knowledge documents, chunks; semantic search' },
  'knowledge:write': { roles: ['owner', 'admin', 'developer'], apiKey: true, allows: 'ingest, re-index and delete knowledge' },
  'analytics:read': { roles: ['owner', 'admin', 'developer'], apiKey: true, allows: 'read analytics aggregates' },
  'analytics:write': { roles: WRITERS, apiKey: true, allows: 'record analytics events' },
} as const satisfies Record<string, PermissionRule>;

/** Every permission a repository or flow checks. `resource:action`. */
export type Permission = keyof typeof PERMISSION_MATRIX;
export const PERMISSIONS = Object.keys(PERMISSION_MATRIX) as Permission[];

const MATRIX_ROLES: readonly MembershipRole[] = ['owner', 'admin', 'member', 'viewer', 'developer'];

/** {@link PERMISSION_MATRIX} as the markdown table of docs/security.md (a test keeps the doc equal to it). */
export function renderPermissionMatrixMarkdown(): string {
  const rows = PERMISSIONS.map((p) => {
    const rule: PermissionRule = PERMISSION_MATRIX[p];
    const cells = MATRIX_ROLES.map((r) => (rule.roles.includes(r) ? '✓' : '—'));
    return `| \`${p}\` | ${cells.join(' | ')} | ${rule.apiKey ? '✓' : '—'} | ${rule.allows} |`;
  });
  return [`| permission | ${MATRIX_ROLES.join(' | ')} | API key | allows |`, `|---|${MATRIX_ROLES.map(() => ':-:|').join('')}:-:|---|`, ...rows].join('\n');
}
