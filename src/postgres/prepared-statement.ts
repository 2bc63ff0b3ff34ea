import { z } from 'zod';
import { PlatformError } from '../errors.js';

/**
 * A named prepared statement of the hot path ({@link PostgresConnection.preparedOne}):
 * PostgreSQL parses and plans it once per connection, then each call is only
 * Bind/Execute. `schema` validates (and maps) the row.
 */
export interface PreparedStatement<S extends z.ZodType> {
  /** Unique per text: `pg` keys its per-connection cache by name and refuses a name reused with another text. */
  readonly name: string;
  /** SQL with `$1 …` placeholders. */
  readonly text: string;
  /** The row schema as written: what a row must be, and the reference the compiled one is tested against. */
  readonly schema: S;
  /**
   * `schema` compiled once by zod (`z.compile`): what every row goes through ({@link parseStatementRow}).
   * A valid row takes generated code (one `typeof`/`instanceof`/regex test per column, no per-column
   * parse calls); an invalid one falls back to `schema`'s own parser, so the verdict, the output and
   * the issues are the schema's (test/unit/postgres/prepared-statement-rows.test.ts proves it for every
   * statement). A schema zod cannot compile is kept as it is. Set by {@link preparedStatement}; a statement
   * written as a literal without it is parsed with `schema`.
   */
  readonly compiled?: S;
}

const defined = new Map<string, PreparedStatement<z.ZodType>>();

/**
 * Defines a hot-path statement. Names are checked for uniqueness here, at
 * module load, rather than surfacing as a driver error on the first call that
 * happens to reuse a connection. The row schema is compiled here, once.
 * @throws Error when `name` is already defined with a different text
 */
export function preparedStatement<S extends z.ZodType>(name: string, text: string, schema: S): PreparedStatement<S> {
  const existing = defined.get(name);
  if (existing !== undefined && existing.text !== text) throw new Error(`prepared statement "${name}" is already defined with another text`);
  // Row validation was the largest client-side cost of a tenant read (docs/benchmarks.md, "Issue 22, fourth round").
  const statement = { name, text, schema, compiled: z.compile(schema) };
  defined.set(name, statement);
  return statement;
}

/** Every statement defined so far in this process (the equivalence test walks them all). */
export function definedStatements(): readonly PreparedStatement<z.ZodType>[] {
  return [...defined.values()];
}

/**
 * One row through the statement's compiled schema.
 * @throws PlatformError `RESULT_INVALID` naming every offending column (the schema's issues; the ZodError is the cause)
 */
export function parseStatementRow<S extends z.ZodType>(statement: PreparedStatement<S>, row: unknown): z.output<S> {
  return parseResultRow(statement.compiled ?? statement.schema, row);
}

/**
 * One result row through `schema`, for a row that is not a statement's own (e.g. a record a function returns inside its row).
 * @throws PlatformError `RESULT_INVALID` naming every offending column (the schema's issues; the ZodError is the cause)
 */
export function parseResultRow<S extends z.ZodType>(schema: S, row: unknown): z.output<S> {
  const parsed = schema.safeParse(row);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
    throw new PlatformError('RESULT_INVALID', `Query result does not match its schema: ${issues}`, { cause: parsed.error });
  }
  return parsed.data;
}
