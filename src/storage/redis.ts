import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  type ChainableCommander,
  Cluster,
  type ClusterOptions,
  type Command,
  Redis,
  type RedisCommander,
  type RedisOptions,
} from 'ioredis';
import { isClusterUrl, parseClusterUrl } from '../config/redis-url.js';
import { keySlot } from './redis-slot.js';

/** Told of every command's round trip and failure, for the metrics; must not throw. */
export interface RedisObserver {
  command(connection: 'command', seconds: number): void;
  error(connection: 'command' | 'blocking'): void;
}

/**
 * The commands a standalone Redis and a Redis Cluster both take, which is all the code uses:
 * on a cluster each goes to the node that owns its keys' slot, so every multi-key command,
 * MULTI and script keeps its keys in one slot (one hash tag).
 */
export interface RedisCommands extends RedisCommander {
  pipeline(): ChainableCommander;
  multi(): ChainableCommander;
}

/** A connection of its own (a blocking reader, the subscriber), cut when its user stops. */
export interface RedisConnection extends RedisCommands, EventEmitter {
  disconnect(): void;
}

/**
 * The options of every connection a process opens, in one place so they never drift apart.
 * A command fails after one reconnection attempt instead of waiting out an outage: each
 * caller holds, retries or refuses its own work. A command that was sent before a connection
 * dropped is never sent again by the client on its own: a limit script or a stream append
 * replayed after an outage would count twice.
 */
const CONNECTION_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 1,
  autoResendUnfulfilledCommands: false,
};

/**
 * The Redis connections of one process: one for commands, shared (pipelined) by every user;
 * one per blocking reader, since `XREADGROUP ... BLOCK` holds its connection while it waits;
 * and one subscriber, since a subscribed connection takes no other commands. On a cluster
 * each of them is a cluster client (one connection per node it talks to).
 */
export interface RedisConnections {
  readonly command: RedisCommands;
  /** True on a Redis Cluster: readers that wait on many keys at once read them slot by slot. */
  readonly cluster: boolean;
  /**
   * The replicas of the node that holds `key`, as the command client knows them now: on a
   * cluster, from its slot map (read anew every few seconds; a failed replica drops out);
   * 0 for a standalone server, whose replicas it is not told of.
   */
  replicasOf(key: string): number;
  /** The blocking reader's own connection, made on first use; one per name at a time. */
  blocking(name: string): RedisConnection;
  /** The subscriber connection, made on first use. */
  subscriber(): RedisConnection;
  close(): Promise<void>;
}

export interface RedisTlsOptions {
  /** The CA (PEM) the server's certificate is checked against, for `rediss://`; null: the system's. */
  ca: string | null;
}

/** How the process's connections are opened: TLS, and who is told of each command. */
export interface OpenRedisOptions {
  tls?: RedisTlsOptions;
  observer?: RedisObserver;
}

type Client = Redis | Cluster;

function openStandalone(url: string, tls: RedisTlsOptions): Redis {
  // ioredis turns `rediss://` into TLS with the system's CAs; a private CA is added here.
  // The server's name is still checked against its certificate.
  const options =
    tls.ca === null ? CONNECTION_OPTIONS : { ...CONNECTION_OPTIONS, tls: { ca: tls.ca } };
  return new Redis(url, options);
}

/**
 * A cluster client with the standalone safety options on every node connection. A command
 * the cluster turns away (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) is sent again by the client:
 * no node ran it. A command whose node connection closed under it (a master that died) may
 * have run there, so it fails, as on a standalone connection, instead of being sent again
 * once the slots are read anew (the client's default, `retryDelayOnFailover`): its caller
 * decides, and a deduplication chunk or an Idempotency-Key claim never runs twice.
 */
function openCluster(url: string, tls: RedisTlsOptions): Cluster {
  const parsed = parseClusterUrl(url);
  const redisOptions: ClusterOptions['redisOptions'] = {
    ...CONNECTION_OPTIONS,
    username: parsed.username,
    password: parsed.password,
    ...(parsed.tls ? { tls: tls.ca === null ? {} : { ca: tls.ca } } : {}),
  };
  return new Cluster(parsed.nodes, {
    redisOptions,
    enableReadyCheck: true,
    retryDelayOnFailover: 0,
    // The slot map is read anew now and then, not only when a node redirects: a replica
    // that joined or failed shows in it (a usage publish waits for the replicas it lists).
    slotsRefreshInterval: SLOTS_REFRESH_MS,
  });
}

/** How often a cluster client reads the slot map (and so each slot's replicas) anew. */
const SLOTS_REFRESH_MS = 5000;

function open(url: string, tls: RedisTlsOptions): Client {
  const client = isClusterUrl(url) ? openCluster(url, tls) : openStandalone(url, tls);
  // Failures surface on each call, where the caller decides; an unheard 'error' event would
  // end the process.
  client.on('error', () => {});
  return client;
}

/**
 * ioredis names itself on connect (CLIENT SETINFO), which a Redis before 7.2 refuses: not a
 * failure of ours, and not a command of ours.
 */
const isHandshake = (command: Command) =>
  command.name === 'client' && String(command.args[0]).toLowerCase() === 'setinfo';

/** Both clients' sendCommand; a cluster's takes the node a pipeline is bound for as well. */
type SendCommand = (command: Command, stream?: unknown, node?: unknown) => unknown;

/**
 * Times every command the client sends (pipelined and MULTI ones each) until its reply, at
 * one clock read and one settled-promise callback per command: no wrapper the callers see.
 * A command can pass through sendCommand more than once (the offline queue's flush, a
 * cluster's redirection): it is timed from the first. Blocking readers are counted for
 * errors only: they wait by design.
 */
function instrument(
  client: Client,
  connection: 'command' | 'blocking',
  observer: RedisObserver,
  closing: () => boolean,
): void {
  const target = client as unknown as { sendCommand: SendCommand };
  const send = target.sendCommand.bind(client);
  const seen = new WeakSet<Command>();
  target.sendCommand = (command, stream, node) => {
    if (!seen.has(command) && !isHandshake(command)) {
      seen.add(command);
      const started = performance.now();
      command.promise.then(
        () => {
          if (connection === 'command')
            observer.command(connection, (performance.now() - started) / 1000);
        },
        // A blocked read cut by our own close is how readers stop, not a failure.
        () => {
          if (!closing()) observer.error(connection);
        },
      );
    }
    // A cluster passes the node a pipeline goes to: handed on as it came.
    return send(command, stream, node);
  };
}

/** How long closing waits for replies still due before it cuts the command connection. */
const QUIT_GRACE_MS = 1000;

/**
 * Opens the process's connections: a standalone Redis for `redis://` and `rediss://`, a
 * Redis Cluster for `redis+cluster://` and `rediss+cluster://` (see docs/configuration.md).
 */
export function openRedis(url: string, options: OpenRedisOptions = {}): RedisConnections {
  const { tls = { ca: null }, observer } = options;
  const command = open(url, tls);
  let closing = false;
  const isClosing = () => closing;
  if (observer !== undefined) instrument(command, 'command', observer, isClosing);
  const blocking = new Map<string, Client>();
  let subscriber: Client | null = null;
  return {
    command,
    cluster: command instanceof Cluster,
    replicasOf: (key) =>
      command instanceof Cluster ? Math.max(0, (command.slots[keySlot(key)]?.length ?? 1) - 1) : 0,
    blocking(name) {
      let client = blocking.get(name);
      // A reader cuts its connection when it stops; one starting again gets a new one.
      if (client === undefined || client.status === 'end') {
        client = open(url, tls);
        if (observer !== undefined) instrument(client, 'blocking', observer, isClosing);
        blocking.set(name, client);
      }
      return client;
    },
    subscriber() {
      subscriber ??= open(url, tls);
      return subscriber;
    },
    async close() {
      closing = true;
      // disconnect(), not quit(): a blocked reader would hold quit() until its timeout.
      for (const client of blocking.values()) client.disconnect();
      subscriber?.disconnect();
      // quit() lets replies still due arrive (the last usage batch); a Redis that is away
      // must not hold the shutdown, so it is cut after a moment. Not only the connection:
      // a cluster's quit() waits on every node, and one that died never answers, even once
      // cut, so the wait itself ends then too.
      let cut: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        cut = setTimeout(resolve, QUIT_GRACE_MS);
      });
      await Promise.race([command.quit().catch(() => {}), grace]);
      clearTimeout(cut);
      command.disconnect();
    },
  };
}
