import pg from 'pg';
import { postgresTypeParsers } from './postgres-type-parsers.js';

type GetTypeParser = pg.CustomTypesConfig['getTypeParser'];
type TypeId = Parameters<GetTypeParser>[0];
type TypeFormat = Parameters<GetTypeParser>[1];

/**
 * OIDs of the built-in types {@link postgresTypeParsers} names, and of their
 * array types. Built-in OIDs are fixed by PostgreSQL (pg_type.dat), so unlike
 * Slonik — which looks them up on a connection at pool creation — a raw `pg`
 * pool can be configured without a round trip.
 */
const BUILTIN_OIDS: Readonly<Record<string, { readonly oid: number; readonly arrayOid: number }>> = {
  timestamptz: { oid: pg.types.builtins.TIMESTAMPTZ, arrayOid: 1185 },
  timestamp: { oid: pg.types.builtins.TIMESTAMP, arrayOid: 1115 },
  int8: { oid: pg.types.builtins.INT8, arrayOid: 1016 },
  numeric: { oid: pg.types.builtins.NUMERIC, arrayOid: 1231 },
  date: { oid: pg.types.builtins.DATE, arrayOid: 1182 },
};
/** text[]: pg's parser splits an array literal into its element strings (pg-types' TypeId lists no array OIDs). */
const TEXT_ARRAY_OID = 1009 as TypeId;

type TextParser = (value: string) => unknown;

const parsers = new Map<number, TextParser>();
for (const typeParser of postgresTypeParsers) {
  const oids = BUILTIN_OIDS[typeParser.name];
  // A parser for a type without a fixed OID here would make the two paths disagree: fail at import, not per row.
  if (!oids) throw new Error(`pg-type-overrides: no built-in OID for type "${typeParser.name}"`);
  const parse = (value: string): unknown => typeParser.parse(value);
  const parseArray = pg.types.getTypeParser(TEXT_ARRAY_OID) as (value: string) => unknown;
  parsers.set(oids.oid, parse);
  parsers.set(oids.arrayOid, (value: string) => (parseArray(value) as (string | null)[]).map((v) => (v === null ? null : parse(v))));
}

/**
 * Type parsers for a raw `pg` pool that give the same JavaScript values as the
 * Slonik pools (`postgresTypeParsers`: timestamptz → Date, int8 → number, …);
 * every other type keeps pg's default parser, as in Slonik's driver.
 */
export const pgTypeOverrides: pg.CustomTypesConfig = {
  getTypeParser: ((oid: TypeId, format?: TypeFormat) => parsers.get(oid) ?? pg.types.getTypeParser(oid, format)) as GetTypeParser,
};
