import type pg from 'pg';

/** One schema object as the catalog describes it: `kind name` → definition. */
export type SchemaSnapshot = ReadonlyMap<string, string>;

/**
 * Objects of schema `public` that a migration can create, read from
 * pg_catalog with PostgreSQL's own deparsers so two databases built by the
 * same files give identical text. Partitions (and their indexes) are left
 * out: maintenance creates and drops them over time, so they are not drift.
 * Objects owned by extensions (citext's functions) are left out too.
 */
const SNAPSHOT_SQL = `
WITH rels AS (
  SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relacl
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND NOT c.relispartition
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
)
SELECT 'table' AS kind, relname::text AS name,
       'kind=' || relkind::text || ' rls=' || relrowsecurity || ' force=' || relforcerowsecurity || ' acl=' || coalesce(relacl::text, '-') AS definition
FROM rels
UNION ALL
SELECT 'column', r.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
         || coalesce(' acl=' || a.attacl::text, '')
FROM rels r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
UNION ALL
SELECT 'index', ic.relname, pg_get_indexdef(i.indexrelid)
FROM rels r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT 'constraint', r.relname || '.' || co.conname, pg_get_constraintdef(co.oid)
FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
UNION ALL
SELECT 'policy', p.tablename || '.' || p.policyname,
       p.cmd || ' ' || p.permissive || ' to ' || array_to_string(p.roles, ',')
         || ' using ' || coalesce(p.qual, '-') || ' check ' || coalesce(p.with_check, '-')
FROM pg_policies p WHERE p.schemaname = 'public'
UNION ALL
SELECT 'trigger', r.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'enum', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = 'public'
GROUP BY t.typname
UNION ALL
SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(pg_get_functiondef(p.oid)) || ' acl=' || coalesce(p.proacl::text, '-')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'extension', extname, extversion FROM pg_extension
`;

/** Reads the snapshot of schema `public` through `client`. */
export async function readSchemaSnapshot(client: pg.ClientBase): Promise<SchemaSnapshot> {
  const { rows } = await client.query<{ kind: string; name: string; definition: string }>(SNAPSHOT_SQL);
  return new Map(rows.map((r) => [`${r.kind} ${r.name}`, r.definition]));
}

/** Human-readable differences from `expected` to `actual`, sorted; empty when equal. */
export function diffSchemaSnapshots(expected: SchemaSnapshot, actual: SchemaSnapshot): string[] {
  const differences: string[] = [];
  for (const [key, definition] of expected) {
    const found = actual.get(key);
    if (found === undefined) differences.push(`missing ${key}: ${definition}`);
    else if (found !== definition) differences.push(`changed ${key}: expected ${definition}; found ${found}`);
  }
  for (const [key, definition] of actual) {
    if (!expected.has(key)) differences.push(`unexpected ${key}: ${definition}`);
  }
  return differences.sort();
}
