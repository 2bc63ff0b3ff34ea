import type { Document } from 'bson';
import { adminCommands } from './admin-commands.js';
import type { CommandContext, CommandHandler, ServerState } from './command-context.js';
import { CommandError } from './command-error.js';
import type { CursorRegistry } from './cursor-registry.js';
import type { DatabaseCatalog } from './database-catalog.js';
import { Deferral } from './deferral.js';
import { indexCommands } from './index-commands.js';
import { readCommands } from './read-commands.js';
import type { ReplicaSetMode } from './replica-set.js';
import { writeCommands } from './write-commands.js';

const HANDLERS: ReadonlyMap<string, CommandHandler> = new Map(Object.entries({ ...adminCommands, ...readCommands, ...writeCommands, ...indexCommands }));

/** Lower-case aliases mongod accepts for a few commands. */
const ALIASES: Readonly<Record<string, string>> = { buildinfo: 'buildInfo', findandmodify: 'findAndModify' };

/** Answered by the replica-set mode's session table, not by a handler. */
const TRANSACTION_COMMANDS = new Set(['commitTransaction', 'abortTransaction']);

/**
 * Dispatches one decoded command to its handler and always returns a reply
 * document (errors included), never throws. A command runs synchronously to
 * completion before the next one starts, whichever connection sent it; only
 * a command that must wait (a Deferral: blocked by a transaction, or an
 * awaitData getMore) returns a promise, and then runs again from the start.
 */
export class CommandHandlers {
  readonly #catalog: DatabaseCatalog;
  readonly #cursors: CursorRegistry;
  readonly #replicaSet: ReplicaSetMode | undefined;

  constructor(catalog: DatabaseCatalog, cursors: CursorRegistry, replicaSet?: ReplicaSetMode) {
    this.#catalog = catalog;
    this.#cursors = cursors;
    this.#replicaSet = replicaSet;
  }

  execute(database: string, command: Document, server: ServerState, attempt = 0, startedAt = Date.now()): Document | Promise<Document> {
    const name = Object.keys(command)[0] ?? '';
    try {
      return this.#dispatch(name, database, command, server, attempt);
    } catch (error) {
      if (error instanceof Deferral) return this.#afterWait(error, database, command, server, attempt, startedAt);
      if (error instanceof CommandError) return error.toReply();
      const message = error instanceof Error ? error.message : String(error);
      return new CommandError('InternalError', `stand-in failure in '${name}': ${message}`).toReply();
    }
  }

  #dispatch(name: string, database: string, command: Document, server: ServerState, attempt: number): Document {
    const replicaSet = this.#replicaSet;
    // A standalone mongod rejects anything transactional (the driver only adds
    // txnNumber for retryable writes on replica sets).
    if (!replicaSet && ('txnNumber' in command || 'startTransaction' in command || 'autocommit' in command || TRANSACTION_COMMANDS.has(name))) {
      throw new CommandError('IllegalOperation', 'Transaction numbers are only allowed on a replica set member or mongos');
    }
    const handler = HANDLERS.get(name) ?? HANDLERS.get(ALIASES[name] ?? '');
    if (!handler && !(replicaSet && TRANSACTION_COMMANDS.has(name))) throw new CommandError('CommandNotFound', `no such command: '${name}'`);
    const run = (catalog: DatabaseCatalog): Document => {
      if (!handler) throw new CommandError('CommandNotFound', `no such command: '${name}'`);
      const context: CommandContext = { database, command, catalog, cursors: this.#cursors, server, replicaSet, attempt };
      return handler(context);
    };
    if (!replicaSet) return run(this.#catalog);
    if (TRANSACTION_COMMANDS.has(name) && database !== 'admin') throw new CommandError('Unauthorized', `${name} may only be run against the admin database.`);
    return replicaSet.route(name, database, command, run);
  }

  /** Waits for the deferral (bounded by the command's maxTimeMS, except a getMore's, which is its await time), then re-runs. */
  async #afterWait(deferral: Deferral, database: string, command: Document, server: ServerState, attempt: number, startedAt: number): Promise<Document> {
    const maxTimeMS: unknown = command.maxTimeMS;
    const bounded = typeof maxTimeMS === 'number' && maxTimeMS > 0 && !('getMore' in command);
    if (bounded) {
      const remaining = startedAt + maxTimeMS - Date.now();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([deferral.until, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, remaining))))]);
      clearTimeout(timer);
      if (Date.now() - startedAt >= maxTimeMS) return new CommandError('MaxTimeMSExpired', 'operation exceeded time limit').toReply();
    } else {
      await deferral.until;
    }
    return this.execute(database, command, server, attempt + 1, startedAt);
  }
}
