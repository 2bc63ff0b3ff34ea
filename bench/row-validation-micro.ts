/**
 * Where row validation of a hot-path read spends its time, one layer at a time, on the real statements' schemas
 * (docs/benchmarks.md, "Issue 22, fourth round"): the schema as written (z.object + .transform), the object
 * alone, the object with `z.string()` for the uuid column, the mapping alone, and the compiled clone the hot
 * path uses. No database: 20 rows shaped as `pg` returns them (Date objects, numbers, nulls).
 *
 * `npx tsc -p bench/tsconfig.json && node dist-bench/bench/row-validation-micro.js`
 */
import 'reflect-metadata';
import { z } from 'zod';
import { parseStatementRow, type PreparedStatement } from '../src/postgres/prepared-statement.js';
import { CREDENTIALS_BY_EMAIL, USERS_FOR_ORGANIZATION } from '../src/postgres/repositories/user-repository.js';

type Shape = Record<string, z.ZodType>;

/** The z.object a `.transform` pipe validates, and the transform's function. */
function parts(schema: z.ZodType): { object: z.ZodObject<Shape>; transform: (row: unknown) => unknown } {
  const def = schema.def as unknown as { in: z.ZodObject<Shape>; out: { def: { transform: (row: unknown) => unknown } } };
  return { object: def.in, transform: def.out.def.transform };
}

const now = new Date('2026-12-07T04:49:21.123Z');
const rows = Array.from({ length: 20 }, (_, i) => ({
  id: `0190${i.toString(16).padStart(4, '0')}-7c1e-4a3b-9d2f-5e6a7b8c9d0e`,
  email: `user${i}@bench.example`,
  display_name: `Bench User ${i}`,
  username: null,
  first_name: null,
  last_name: null,
  avatar_url: null,
  timezone: null,
  language: null,
  status: 'active',
  email_verified_at: now,
  failed_login_count: 0,
  locked_until: null,
  must_change_password: false,
  last_login_at: null,
  last_login_ip: null,
  terms_version: null,
  terms_accepted_at: null,
  privacy_version: null,
  privacy_accepted_at: null,
  marketing_consent_version: null,
  marketing_consent_at: null,
  age_confirmed_at: null,
  created_at: now,
  updated_at: now,
  deleted_at: null,
  sort_us: 1_796_618_940_123_456 + i,
  password_hash: '$2b$04$abcdefghijklmnopqrstuuK0S2W2y0b7A8tq0n7m1ZVr8dVnE5i4y',
}));

let sink: unknown;
/**
 * Process CPU time (user + system, so garbage collection counts and time waiting for a core on a shared machine
 * does not) per 20 rows: the lowest and the median of 9 timed loops after a warm-up.
 */
function measure(label: string, parseOne: (row: (typeof rows)[number]) => unknown): void {
  const loops = 2000;
  const run = () => {
    for (let i = 0; i < loops; i++) for (const row of rows) sink = parseOne(row);
  };
  run();
  const times: number[] = [];
  for (let r = 0; r < 9; r++) {
    const before = process.cpuUsage();
    run();
    const used = process.cpuUsage(before);
    times.push((used.user + used.system) / loops);
  }
  times.sort((a, b) => a - b);
  console.log(`${label.padEnd(58)} ${times[0]!.toFixed(2).padStart(6)} µs lowest, ${times[4]!.toFixed(2).padStart(6)} median`);
}

for (const statement of [USERS_FOR_ORGANIZATION, CREDENTIALS_BY_EMAIL] as PreparedStatement<z.ZodType>[]) {
  const { object, transform } = parts(statement.schema);
  const noUuid = object.extend({ id: z.string() });
  console.log(`${statement.name}: 20 rows of ${Object.keys(object.shape).length} columns`);
  measure('  schema as written: z.object + .transform', (row) => statement.schema.safeParse(row));
  measure('  the z.object alone', (row) => object.safeParse(row));
  measure('  the z.object with z.string() for the uuid column', (row) => noUuid.safeParse(row));
  measure('  the .transform mapping alone', (row) => transform(row));
  measure('  compiled (z.compile): parseStatementRow, the hot path', (row) => parseStatementRow(statement, row));
}
if (sink === undefined) throw new Error('nothing measured');
