import type { Document } from 'bson';
import { CommandError } from './command-error.js';
import type { CursorRegistry } from './cursor-registry.js';
import type { DatabaseCatalog } from './database-catalog.js';
import type { ReplicaSetMode } from './replica-set.js';

/** What the server tells command handlers about itself and the calling connection. */
export interface ServerState {
  readonly host: string;
  readonly port: number;
  readonly startedAt: number;
  readonly connectionId: number;
  readonly currentConnections: number;
  readonly totalConnections: number;
}

/** Everything a command handler needs; handlers are synchronous so each command is atomic. */
export interface CommandContext {
  readonly database: string;
  readonly command: Document;
  readonly catalog: DatabaseCatalog;
  readonly cursors: CursorRegistry;
  readonly server: ServerState;
  /** Present when the stand-in runs as a replica set. */
  readonly replicaSet?: ReplicaSetMode | undefined;
  /** 0 on the first run; higher when the command is re-run after a Deferral. */
  readonly attempt: number;
}

export type CommandHandler = (context: CommandContext) => Document;

/** Arguments every command may carry; they are not command options. */
export const GENERIC_ARGUMENTS = new Set([
  '$db',
  'lsid',
  '$clusterTime',
  '$readPreference',
  'readConcern',
  'writeConcern',
  'comment',
  'maxTimeMS',
  'apiVersion',
  'apiStrict',
  'apiDeprecationErrors',
  '$audit',
  '$client',
  'txnNumber',
  'autocommit',
  'startTransaction',
  'stmtId',
  'stmtIds',
  'mayBypassWriteBlocking',
  'bypassDocumentValidation',
]);

/** The collection name a command targets (its first field's value). */
export function collectionName(context: CommandContext): string {
  const [name, value] = Object.entries(context.command)[0] ?? [];
  if (typeof value !== 'string' || value.length === 0) {
    throw new CommandError('InvalidNamespace', `collection name has invalid type ${typeof value} for '${name ?? ''}'`);
  }
  return value;
}
