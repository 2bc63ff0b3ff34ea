import type { DriverTypeParser } from 'slonik';

/**
 * Type parsers: timestamps as `Date`, int8/numeric as `number` (counts and
 * credits stay far below 2^53), `date` as ISO string, `interval` as text.
 */
export const postgresTypeParsers: readonly DriverTypeParser[] = [
  { name: 'timestamptz', parse: (v: string) => new Date(v) },
  { name: 'timestamp', parse: (v: string) => new Date(`${v.replace(' ', 'T')}Z`) },
  { name: 'int8', parse: (v: string) => Number.parseInt(v, 10) },
  { name: 'numeric', parse: (v: string) => Number.parseFloat(v) },
  { name: 'date', parse: (v: string) => v },
];
