import type { Document } from 'bson';
import { adminCommands } from './admin-commands.js';
import type { CommandContext, CommandHandler, ServerState } from './command-context.js';
import { CommandError } from './command-error.js';
import type { CursorRegistry } from './cursor-registry.js';
import type { DatabaseCatalog } from './database-catalog.js';
import { indexCommands } from './index-commands.js';
import { readCommands } from './read-commands.js';
import { writeCommands } from './write-commands.js';

const HANDLERS: ReadonlyMap<string, CommandHandler> = new Map(
  Object.entries({ ...adminCommands, ...readCommands, ...writeCommands, ...indexCommands }),
);

/** Lower-case aliases mongod accepts for a few commands. */
const ALIASES: Readonly<Record<string, string>> = { buildinfo: 'buildInfo', findandmodify: 'findAndModify' };

/**
 * Dispatches one decoded command to its handler and always returns a reply
 * document (errors included), never throws. Synchronous by design: a command
 * runs to completion before the next one starts, whichever connection sent it.
 */
export class CommandHandlers {
  readonly #catalog: DatabaseCatalog;
  readonly #cursors: CursorRegistry;

  constructor(catalog: DatabaseCatalog, cursors: CursorRegistry) {
    this.#catalog = catalog;
    this.#cursors = cursors;
  }

  execute(database: string, command: Document, server: ServerState): Document {
    const name = Object.keys(command)[0] ?? '';
    try {
      // A standalone mongod rejects anything transactional (the driver only adds
      // txnNumber for retryable writes on replica sets, which this is not).
      if ('txnNumber' in command || 'startTransaction' in command || 'autocommit' in command) {
        throw new CommandError('IllegalOperation', 'Transaction numbers are only allowed on a replica set member or mongos');
      }
      const handler = HANDLERS.get(name) ?? HANDLERS.get(ALIASES[name] ?? '');
      if (!handler) throw new CommandError('CommandNotFound', `no such command: '${name}'`);
      const context: CommandContext = { database, command, catalog: this.#catalog, cursors: this.#cursors, server };
      return handler(context);
    } catch (error) {
      if (error instanceof CommandError) return error.toReply();
      const message = error instanceof Error ? error.message : String(error);
      return new CommandError('InternalError', `stand-in failure in '${name}': ${message}`).toReply();
    }
  }
}
