import { createServer, type Server, type Socket } from 'node:net';
import { listenOn } from './listen-on.js';
import type { Document } from 'bson';
import { CommandHandlers } from './mongo/command-handlers.js';
import type { ServerState } from './mongo/command-context.js';
import { CursorRegistry } from './mongo/cursor-registry.js';
import { DatabaseCatalog } from './mongo/database-catalog.js';
import { SnapshotFile } from './mongo/snapshot-file.js';
import { TtlMonitor } from './mongo/ttl-monitor.js';
import { ReplicaSetMode } from './mongo/replica-set.js';
import { OP_QUERY, WireCodec, type WireRequest } from './mongo/wire-codec.js';

export interface MongoStandInOptions {
  /**
   * Interface to listen on.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * TCP port; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * File to persist data in: loaded on start when it exists, written on
   * `stop()` and every `snapshotIntervalMs`.
   * @example { snapshotPath: '.data/mongo-stand-in.bson' }
   */
  readonly snapshotPath?: string;
  /**
   * How often to write the snapshot while running (only with `snapshotPath`); 0 = only on stop.
   * @default 0
   */
  readonly snapshotIntervalMs?: number;
  /**
   * How often the TTL monitor deletes expired documents. mongod sweeps every
   * 60 s (`ttlMonitorSleepSecs`); the stand-in defaults to 1 s so tests of
   * TTL indexes finish quickly.
   * @default 1000
   */
  readonly ttlMonitorIntervalMs?: number;
  /**
   * Run as a one-member replica set of this name (primary only): `hello`
   * reports `setName`/`hosts`/`primary`, and sessions, retryable writes,
   * multi-document transactions and change streams work. Without it the
   * stand-in is a standalone server, which refuses transactions (code 20)
   * and change streams (40573) like a standalone mongod.
   * @example { replicaSet: 'rs0' }
   */
  readonly replicaSet?: string;
}

/**
 * An in-memory MongoDB server for tests and demos, speaking the real wire
 * protocol on a real TCP socket, so the real `mongodb` driver and mongoose
 * talk to it unchanged. It impersonates MongoDB 7.0 (wire version 21):
 * a standalone server by default (no transactions, code 20; no change
 * streams), or with `replicaSet` a one-member replica set with sessions,
 * multi-document transactions and change streams. Queries, updates and
 * aggregation use mingo; see docs/testing.md for the supported surface.
 *
 * Never imported by the library itself; ship it under `platform-data/testing`.
 *
 * @example
 * ```ts
 * await using mongo = await MongoStandIn.start();
 * await mongoose.connect(mongo.uri);
 * ```
 */
export class MongoStandIn {
  /** Connection string, e.g. `mongodb://127.0.0.1:27017/`. */
  readonly uri: string;
  readonly host: string;
  readonly port: number;
  /** The replica set's name, or undefined for a standalone stand-in. */
  readonly replicaSet: string | undefined;

  readonly #server: Server;
  readonly #catalog: DatabaseCatalog;
  readonly #cursors: CursorRegistry;
  readonly #handlers: CommandHandlers;
  readonly #replicaSetMode: ReplicaSetMode | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #snapshotPath: string | undefined;
  readonly #startedAt = Date.now();
  #nextConnectionId = 1;
  #totalConnections = 0;
  #stopping: Promise<void> | undefined;
  #saving: Promise<void> = Promise.resolve();

  private constructor(server: Server, catalog: DatabaseCatalog, host: string, port: number, options: MongoStandInOptions) {
    this.#server = server;
    this.#catalog = catalog;
    this.#cursors = new CursorRegistry();
    this.host = host;
    this.port = port;
    this.#snapshotPath = options.snapshotPath;
    const uriHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    this.uri = `mongodb://${uriHost}:${port}/`;
    this.replicaSet = options.replicaSet;
    this.#replicaSetMode = options.replicaSet === undefined ? undefined : new ReplicaSetMode(catalog, options.replicaSet, `${uriHost}:${port}`);
    this.#handlers = new CommandHandlers(catalog, this.#cursors, this.#replicaSetMode);
  }

  /**
   * Starts listening (and loads the snapshot when configured).
   * @throws Error when the port is taken or the snapshot file is not a stand-in snapshot.
   */
  static async start(options: MongoStandInOptions = {}): Promise<MongoStandIn> {
    const host = options.host ?? '127.0.0.1';
    if (options.replicaSet !== undefined && !/^[\w.-]+$/.test(options.replicaSet))
      throw new Error(`replicaSet must be a non-empty name of letters, digits, '.', '_' or '-'; got '${options.replicaSet}'`);
    const catalog = new DatabaseCatalog();
    if (options.snapshotPath) await SnapshotFile.load(options.snapshotPath, catalog);
    const server = createServer();
    const port = await listenOn(server, options.port ?? 0, host);
    const standIn = new MongoStandIn(server, catalog, host, port, options);
    server.on('connection', (socket) => standIn.#accept(socket));
    standIn.#every(options.ttlMonitorIntervalMs ?? 1000, () => {
      TtlMonitor.sweep(catalog);
      standIn.#cursors.sweepIdle(Date.now());
      standIn.#replicaSetMode?.expire(Date.now());
    });
    if (options.snapshotPath && options.snapshotIntervalMs && options.snapshotIntervalMs > 0) {
      standIn.#every(options.snapshotIntervalMs, () => {
        void standIn.saveSnapshot().catch(() => undefined);
      });
    }
    return standIn;
  }

  /** Writes the snapshot now (no-op without `snapshotPath`). */
  saveSnapshot(): Promise<void> {
    const path = this.#snapshotPath;
    if (!path) return Promise.resolve();
    // Saves run one after another so an older snapshot never lands after a newer one.
    const next = this.#saving.catch(() => undefined).then(() => SnapshotFile.save(path, this.#catalog));
    this.#saving = next;
    return next;
  }

  /** Runs the TTL monitor once, now; returns how many documents it deleted. */
  expireNow(): number {
    return TtlMonitor.sweep(this.#catalog);
  }

  /** Deletes all databases (keeps the server running). */
  reset(): void {
    this.#replicaSetMode?.clear();
    this.#cursors.clear();
    this.#catalog.clear();
  }

  /** Closes every connection and the listener, then writes the snapshot. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    await this.saveSnapshot();
  }

  #every(intervalMs: number, fn: () => void): void {
    const timer = setInterval(fn, intervalMs);
    timer.unref();
    this.#timers.push(timer);
  }

  #accept(socket: Socket): void {
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    this.#totalConnections++;
    const connectionId = this.#nextConnectionId++;
    const codec = new WireCodec();
    // Replies leave in request order; a command that waits (see Deferral) holds back the ones after it.
    let queue: Promise<void> = Promise.resolve();
    let waiting = 0;
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      let requests;
      try {
        requests = codec.push(chunk);
      } catch {
        // Malformed framing or BSON (WireProtocolError, BSONError): mongod drops such connections too.
        socket.destroy();
        return;
      }
      for (const request of requests) {
        if (waiting > 0) {
          waiting++;
          queue = queue.then(() => this.#handle(socket, codec, request, connectionId)).finally(() => waiting--);
          continue;
        }
        const pending = this.#handle(socket, codec, request, connectionId);
        if (pending) {
          waiting++;
          queue = pending.catch(() => void socket.destroy()).finally(() => waiting--);
        }
      }
    });
  }

  /** Runs one request and writes its reply; returns a promise only when the command waits. */
  #handle(socket: Socket, codec: WireCodec, request: WireRequest, connectionId: number): Promise<void> | undefined {
    const state: ServerState = {
      host: this.host,
      port: this.port,
      startedAt: this.#startedAt,
      connectionId,
      currentConnections: this.#sockets.size,
      totalConnections: this.#totalConnections,
    };
    // Handled synchronously: each command is atomic with respect to every other connection.
    const reply = this.#handlers.execute(request.database, request.command, state);
    const send = (document: Document): void => {
      if (request.moreToCome || socket.destroyed) return;
      socket.write(request.opCode === OP_QUERY ? codec.encodeOpReply(request.requestId, document) : codec.encodeOpMsg(request.requestId, document));
    };
    if (!(reply instanceof Promise)) {
      send(reply);
      return undefined;
    }
    return reply.then(send);
  }
}
