import { performance } from 'node:perf_hooks';
import { type Command, Redis, type RedisOptions } from 'ioredis';

/** Told of every command's round trip and failure, for the metrics; must not throw. */
export interface RedisObserver {
  command(connection: 'command', seconds: number): void;
  error(connection: 'command' | 'blocking'): void;
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
 * and one subscriber, since a subscribed connection takes no other commands.
 */
export interface RedisConnections {
  readonly command: Redis;
  /** The blocking reader's own connection, made on first use; one per name at a time. */
  blocking(name: string): Redis;
  /** The subscriber connection, made on first use. */
  subscriber(): Redis;
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

function open(url: string, tls: RedisTlsOptions): Redis {
  // ioredis turns `rediss://` into TLS with the system's CAs; a private CA is added here.
  // The server's name is still checked against its certificate.
  const options =
    tls.ca === null ? CONNECTION_OPTIONS : { ...CONNECTION_OPTIONS, tls: { ca: tls.ca } };
  const client = new Redis(url, options);
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

/**
 * Times every command the client sends (pipelined and MULTI ones each) until its reply, at
 * one clock read and one settled-promise callback per command: no wrapper the callers see.
 * A command can pass through sendCommand more than once (the offline queue's flush): it is
 * timed from the first. Blocking readers are counted for errors only: they wait by design.
 */
function instrument(
  client: Redis,
  connection: 'command' | 'blocking',
  observer: RedisObserver,
  closing: () => boolean,
): void {
  const send = client.sendCommand.bind(client);
  const seen = new WeakSet<Command>();
  client.sendCommand = (command, stream) => {
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
    return send(command, stream);
  };
}

/** How long closing waits for replies still due before it cuts the command connection. */
const QUIT_GRACE_MS = 1000;

export function openRedis(url: string, options: OpenRedisOptions = {}): RedisConnections {
  const { tls = { ca: null }, observer } = options;
  const command = open(url, tls);
  let closing = false;
  const isClosing = () => closing;
  if (observer !== undefined) instrument(command, 'command', observer, isClosing);
  const blocking = new Map<string, Redis>();
  let subscriber: Redis | null = null;
  return {
    command,
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
      // must not hold the shutdown, so it is cut after a moment.
      const cut = setTimeout(() => command.disconnect(), QUIT_GRACE_MS);
      await command.quit().catch(() => command.disconnect());
      clearTimeout(cut);
    },
  };
}
