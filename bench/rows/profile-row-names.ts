/**
 * Names of the profile rows that goal rows cite as evidence of a shortfall (RowSpec.shortfall): the profile
 * row and the goal row take the name from here, so a renamed profile row cannot leave its citation behind.
 */
export const PROFILE_ROW = {
  hotPathValidation: 'profile: hot path, input and row validation',
  hotPathPool: 'profile: hot path, pool bound and idle check',
  drizzle: 'profile: Drizzle .prepare()',
  leastPrivilege: 'profile: least-privilege lookup (platform_auth function, application role)',
  tenantValidation: 'profile: tenant read, row validation',
  tenantPolicies: 'profile: tenant read, policy checks in server execution',
  tenantPipelined: 'profile: tenant read, pipelined vs withTenant',
  sessionCommand: 'profile: session validate command alone',
  sessionClientWork: 'profile: session validate client-side work',
  sessionMissFloor: 'profile: session miss path vs its floor',
  auditInsert: 'profile: audit batch INSERT alone',
  semanticEmbed: 'profile: semantic search, embed + Qdrant vs the Qdrant query alone',
  userGrowthSameKeys: "profile: user growth, the small side's keys on the large table",
  clusterBareGet: 'profile: Redis Cluster, a bare GET vs one node',
  semanticHydration: 'profile: semantic search, MongoDB hydration alone vs the Qdrant query alone',
} as const;

/** The login profile row's name: it runs at the run's BCRYPT_COST. */
export const loginProfileRowName = (cost: number): string => `profile: login at bcrypt cost ${cost}`;

/** Profile rows measured inside a goal row's group (their servers live for that row) carry this prefix; they are reported with the other profile rows. */
export const isProfileRow = (row: { readonly name: string }): boolean => row.name.startsWith('profile: ');
