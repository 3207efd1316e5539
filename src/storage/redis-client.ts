import { Redis } from 'ioredis';

/**
 * A connection for the background users of Redis (queues, streams, markers). A command
 * fails after one reconnection attempt instead of waiting out an outage, and failures
 * surface on each call, where the caller logs them or holds its work, rather than as
 * unheard 'error' events.
 */
export function connectRedis(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  return client;
}
