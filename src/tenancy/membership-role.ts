/** Membership roles, stored lowercase in the `membership_role` enum. */
export const MEMBERSHIP_ROLES = ['owner', 'admin', 'member', 'viewer', 'developer'] as const;
export type MembershipRole = (typeof MEMBERSHIP_ROLES)[number];
