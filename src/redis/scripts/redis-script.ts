import type { RedisClient } from '../redis-connection.js';
import { PlatformError } from '../../errors.js';
import { withRedisErrors } from '../map-redis-error.js';

/** One documented input of a script (a KEYS or ARGV slot). */
export interface ScriptSlot {
  readonly name: string;
  readonly description: string;
}

/**
 * A Lua script with its contract, in the manner of BullMQ's script headers:
 * the header placed at the top of `lua` is generated from these fields, so the
 * text Redis runs, the TypeScript mirror and docs/sessions.md share one source.
 */
export interface RedisScriptSpec {
  /** camelCase; also the ioredis command name (prefixed `pd_`). */
  readonly name: string;
  readonly description: string;
  readonly keys: readonly ScriptSlot[];
  readonly argv: readonly ScriptSlot[];
  /** What the reply looks like, incl. each numeric code. */
  readonly returns: string;
  /** Redis errors the script may raise (none → empty). */
  readonly errors: string;
  /** Lua body (without header). */
  readonly body: string;
}

export interface RedisScript extends RedisScriptSpec {
  /** Header + body: the text sent to Redis (its SHA1 is what EVALSHA uses). */
  readonly lua: string;
  readonly commandName: string;
}

function header(spec: RedisScriptSpec): string {
  const lines = [
    `${spec.name}: ${spec.description}`,
    '',
    'Input:',
    ...spec.keys.map((k, i) => `  KEYS[${i + 1}] ${k.name} - ${k.description}`),
    ...spec.argv.map((a, i) => `  ARGV[${i + 1}] ${a.name} - ${a.description}`),
    '',
    'Output:',
    ...spec.returns.split('\n').map((l) => `  ${l}`),
    '',
    `Errors: ${spec.errors || 'none raised by the script itself'}`,
  ];
  return `${lines.map((l) => `-- ${l}`.trimEnd()).join('\n')}\n`;
}

/** Builds a script from its spec (generating the documented header). */
export function defineRedisScript(spec: RedisScriptSpec): RedisScript {
  return { ...spec, lua: `${header(spec)}${spec.body.trim()}\n`, commandName: `pd_${spec.name}` };
}

type ScriptCommand = (...args: Array<string | number | Buffer>) => Promise<unknown>;

// Which scripts were already defined on which client: defineCommand is per client instance.
const defined = new WeakMap<RedisClient, Set<string>>();

/**
 * Runs `script` on `client` through ioredis `defineCommand`, i.e. EVALSHA
 * with an automatic EVAL fallback when the server answers NOSCRIPT (after a
 * restart, SCRIPT FLUSH or failover).
 *
 * @throws StoreUnavailableError when Redis cannot be reached; PlatformError `REDIS_*` for server errors.
 */
export async function runScript(client: RedisClient, script: RedisScript, keys: readonly string[], argv: ReadonlyArray<string | number>): Promise<unknown> {
  if (keys.length !== script.keys.length || argv.length !== script.argv.length) {
    throw new PlatformError('SCRIPT_ARITY', `${script.name} expects ${script.keys.length} keys and ${script.argv.length} arguments`);
  }
  let names = defined.get(client);
  if (!names) {
    names = new Set();
    defined.set(client, names);
  }
  if (!names.has(script.commandName)) {
    client.defineCommand(script.commandName, { lua: script.lua, numberOfKeys: script.keys.length });
    names.add(script.commandName);
  }
  const command = (client as unknown as Record<string, ScriptCommand>)[script.commandName];
  if (!command) throw new PlatformError('SCRIPT_MISSING', `${script.name} could not be defined`);
  return withRedisErrors(() => command.call(client, ...keys, ...argv));
}
