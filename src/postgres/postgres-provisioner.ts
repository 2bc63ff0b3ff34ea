import { sql } from 'slonik';
import { inject, injectable } from 'tsyringe';
import { z } from 'zod';
import { ownerDatabaseUrl, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { ProvisionStep, StoreProvisioner } from '../store-provisioner.js';
import { CONFIG, LOGGER } from '../tokens.js';
import { Migrator } from './migrator.js';
import { PostgresConnection } from './postgres-connection.js';

const CLEAN_ANSWER_MS = 60_000;

/**
 * PostgreSQL provisioning: pending migrations (under the migrator's advisory
 * lock, so concurrent bootstraps apply each file once), the audit log's
 * upcoming monthly partitions, then the application-role pool.
 */
@injectable()
export class PostgresProvisioner implements StoreProvisioner {
  readonly store = 'postgres' as const;
  #cleanUntil = 0;

  constructor(
    @inject(CONFIG) private readonly config: Config,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(PostgresConnection) private readonly connection: PostgresConnection,
  ) {}

  async provision(onStep: (step: ProvisionStep) => void = () => undefined): Promise<ProvisionStep[]> {
    const steps: ProvisionStep[] = [];
    const record = (step: Omit<ProvisionStep, 'store'>) => {
      const full = { store: this.store, ...step };
      steps.push(full);
      onStep(full);
    };
    {
      await using migrator = new Migrator({ url: ownerDatabaseUrl(this.config, 'provisioning (migrations)'), logger: this.logger });
      const { applied } = await migrator.up();
      if (applied.length === 0) record({ step: 'migrations', changed: false, detail: 'up to date' });
      for (const name of applied) record({ step: `migration ${name}`, changed: true, detail: 'applied' });
    }
    const created = await this.connection.ownerPool.oneFirst(sql.type(z.object({ created: z.number() }))`SELECT audit_log_ensure_partitions(3) AS created`);
    record({ step: 'audit log partitions', changed: created > 0, detail: created > 0 ? `${created} created` : 'present' });
    // Where the server authenticates by password, the application role gets the one in DATABASE_APP_URL.
    const appUrl = new URL(this.config.postgres.appUrl);
    if (appUrl.password) {
      const role = decodeURIComponent(appUrl.username);
      await this.connection.ownerPool.query(sql.unsafe`ALTER ROLE ${sql.identifier([role])} PASSWORD ${sql.literalValue(decodeURIComponent(appUrl.password))}`);
      record({ step: 'application role password', changed: false, detail: 'set from DATABASE_APP_URL' });
    }
    await this.connection.connectAppPool();
    record({ step: 'application role pool', changed: false, detail: 'connected' });
    return steps;
  }

  /**
   * Pending migrations. A clean answer is remembered for a minute: readiness
   * probes call this through `health()` every few seconds, and each check
   * opens a connection and hashes every file of sql/, while applied
   * migrations only go away by an operator's `db down`.
   */
  async pending(): Promise<string[]> {
    if (Date.now() < this.#cleanUntil) return [];
    // Reading the ledger needs no owner: the application role may read it (sql/0070).
    await using migrator = new Migrator({ url: this.config.postgres.url ?? this.config.postgres.appUrl, logger: this.logger });
    const status = await migrator.status();
    const pending = status.filter((s) => s.state !== 'applied').map((s) => `migration ${s.version} ${s.name} ${s.state}`);
    if (pending.length === 0) this.#cleanUntil = Date.now() + CLEAN_ANSWER_MS;
    return pending;
  }
}
