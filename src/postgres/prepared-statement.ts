import type { z } from 'zod';

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
  readonly schema: S;
}

const texts = new Map<string, string>();

/**
 * Defines a hot-path statement. Names are checked for uniqueness here, at
 * module load, rather than surfacing as a driver error on the first call that
 * happens to reuse a connection.
 * @throws Error when `name` is already defined with a different text
 */
export function preparedStatement<S extends z.ZodType>(name: string, text: string, schema: S): PreparedStatement<S> {
  const existing = texts.get(name);
  if (existing !== undefined && existing !== text) throw new Error(`prepared statement "${name}" is already defined with another text`);
  texts.set(name, text);
  return { name, text, schema };
}
