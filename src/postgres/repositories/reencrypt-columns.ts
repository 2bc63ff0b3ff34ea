import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { CryptoError } from '../../errors.js';
import type { SecretBox } from '../../security/secret-box.js';
import { parseInput } from '../../parse-input.js';
import { withPostgresErrors } from '../map-postgres-error.js';

export interface ReencryptResult {
  /** Rows rewritten under the active key. */
  readonly rewritten: number;
  /**
   * Rows left as they were because a ciphertext did not authenticate (tampered,
   * moved between rows, or its key is gone from the ring): already unusable,
   * they must not stop the rotation of every other row. Investigate them.
   */
  readonly failedIds: readonly string[];
}

export interface ReencryptSpec {
  readonly table: string;
  /** uuid key column; its value is what each column's AAD names (default `id`). */
  readonly idColumn?: string;
  readonly columns: ReadonlyArray<{ readonly column: string; readonly aad: (id: string) => string }>;
  readonly batchSize: number;
}

/**
 * Key rotation for SecretBox columns: rewrites, under the active key, every
 * ciphertext of `spec.columns` that names another key, batch by batch (keyset
 * on the id, rows locked `FOR UPDATE` per batch so a concurrent writer is not
 * overwritten with a stale value). The SQL filter reads the key id from the
 * envelope header (byte 1 = its length, then the id), so rows already on the
 * active key are never fetched.
 *
 * Runs on the pool given (the application pool in admin scope: maintenance spans tenants).
 * @throws ValidationError naming `batchSize`
 */
export async function reencryptColumns(pool: Pick<DatabasePool, 'transaction'>, box: SecretBox, spec: ReencryptSpec): Promise<ReencryptResult> {
  const batchSize = parseInput(z.number().int().min(1).max(10_000), spec.batchSize, 'batchSize');
  const table = sql.identifier([spec.table]);
  const idColumn = sql.identifier([spec.idColumn ?? 'id']);
  const active = Buffer.from(box.activeKeyId, 'ascii');
  const stale = sql.join(
    spec.columns.map(({ column }) => {
      const c = sql.identifier([column]);
      return sql.fragment`(${c} IS NOT NULL AND length(${c}) > 2 AND substring(${c} FROM 3 FOR get_byte(${c}, 1)) <> ${sql.binary(active)})`;
    }),
    sql.fragment` OR `,
  );
  const selected = sql.join(
    spec.columns.map(({ column }) => sql.identifier([column])),
    sql.fragment`, `,
  );
  const rowSchema = z.object({ id: z.uuid() }).catchall(z.instanceof(Buffer).nullable());
  let rewritten = 0;
  const failedIds: string[] = [];
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const batch = await withPostgresErrors(() =>
      pool.transaction(async (tx) => {
        const rows = await tx.any(sql.type(rowSchema)`
          SELECT ${idColumn} AS id, ${selected} FROM ${table}
          WHERE ${idColumn} > ${after} AND (${stale})
          ORDER BY ${idColumn} LIMIT ${batchSize}
          FOR UPDATE`);
        for (const row of rows) {
          let sets;
          try {
            sets = spec.columns.flatMap(({ column, aad }) => {
              const value = row[column];
              if (!(value instanceof Buffer) || !box.needsReencrypt(value)) return [];
              return [sql.fragment`${sql.identifier([column])} = ${sql.binary(box.reencrypt(value, aad(row.id)))}`];
            });
          } catch (error) {
            if (!(error instanceof CryptoError)) throw error;
            failedIds.push(row.id);
            continue;
          }
          if (sets.length > 0) {
            await tx.query(sql.type(z.never())`UPDATE ${table} SET ${sql.join(sets, sql.fragment`, `)} WHERE ${idColumn} = ${row.id}`);
            rewritten += 1;
          }
        }
        return rows;
      }),
    );
    const last = batch.at(-1);
    if (!last || batch.length < batchSize) return { rewritten, failedIds };
    after = last.id;
  }
}
