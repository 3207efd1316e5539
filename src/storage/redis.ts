import { Redis, type RedisOptions } from 'ioredis';

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

/** How long closing waits for replies still due before it cuts the command connection. */
const QUIT_GRACE_MS = 1000;

export function openRedis(url: string, tls: RedisTlsOptions = { ca: null }): RedisConnections {
  const command = open(url, tls);
  const blocking = new Map<string, Redis>();
  let subscriber: Redis | null = null;
  return {
    command,
    blocking(name) {
      let client = blocking.get(name);
      // A reader cuts its connection when it stops; one starting again gets a new one.
      if (client === undefined || client.status === 'end') {
        client = open(url, tls);
        blocking.set(name, client);
      }
      return client;
    },
    subscriber() {
      subscriber ??= open(url, tls);
      return subscriber;
    },
    async close() {
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
