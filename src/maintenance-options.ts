import type { MaintenanceConfig } from './config.js';

/** What `createPlatform(config, { maintenance })` may set over `config.maintenance`. */
export interface MaintenanceOptions extends MaintenanceConfig {
  /** Audit-log retention in days (default `config.retention.auditDays`, `AUDIT_RETENTION_DAYS`). */
  readonly auditRetentionDays: number;
  /**
   * Deletes the audio of expired voice-cache entries (their storage URIs), which the
   * application stores; without it only the metadata rows are removed (a warning says so).
   */
  readonly removeVoiceAudio?: (storageUris: readonly string[]) => Promise<void>;
}
