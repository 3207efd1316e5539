import { EventEmitter } from 'node:events';
import type { RedisCommands, RedisConnection, RedisConnections } from '../../storage/redis.js';

/**
 * Cached key resolutions to drop: one key, or every key of a tenant; or capacity of a rate
 * limit counter that instances hold idle, wanted back by another (see limits/admission.ts).
 */
export type Invalidation = { keyId: string } | { tenantId: string } | { reclaim: string };

/**
 * Tells every gateway instance that cached keys changed (revoked, rotated, tenant disabled),
 * so revocation takes effect at once everywhere instead of after a cache lifetime.
 */
export interface InvalidationBus {
  publish(message: Invalidation): Promise<void>;
  subscribe(listener: (message: Invalidation) => void): void;
  close(): Promise<void>;
}

/** One process: the embedded default. */
export class LocalInvalidationBus implements InvalidationBus {
  private readonly events = new EventEmitter();

  async publish(message: Invalidation): Promise<void> {
    this.events.emit('invalidate', message);
  }

  subscribe(listener: (message: Invalidation) => void): void {
    this.events.on('invalidate', listener);
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}

const CHANNEL = 'llm-backend:keys:invalidate';

function parse(text: string): Invalidation | null {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object') {
      const { keyId, tenantId, reclaim } = value as Record<string, unknown>;
      if (typeof keyId === 'string') return { keyId };
      if (typeof tenantId === 'string') return { tenantId };
      if (typeof reclaim === 'string') return { reclaim };
    }
  } catch {
    // A message we cannot read is dropped; it cannot be ours.
  }
  return null;
}

/** Many instances: Redis pub/sub. Listeners in this process hear their own messages at once. */
export class RedisInvalidationBus implements InvalidationBus {
  private readonly publisher: RedisCommands;
  private readonly subscriber: RedisConnection;
  private readonly local = new LocalInvalidationBus();

  constructor(redis: Pick<RedisConnections, 'command' | 'subscriber'>) {
    this.publisher = redis.command;
    this.subscriber = redis.subscriber();
    // A failed subscription is retried by ready(), and by the client on each reconnection.
    void this.subscriber.subscribe(CHANNEL).catch(() => {});
    this.subscriber.on('message', (_channel: string, text: string) => {
      const message = parse(text);
      if (message !== null) void this.local.publish(message);
    });
  }

  /** Resolves once the subscription is live, so no message sent after it is missed. */
  async ready(): Promise<void> {
    await this.subscriber.subscribe(CHANNEL);
  }

  async publish(message: Invalidation): Promise<void> {
    await this.local.publish(message);
    await this.publisher.publish(CHANNEL, JSON.stringify(message));
  }

  subscribe(listener: (message: Invalidation) => void): void {
    this.local.subscribe(listener);
  }

  /** The connections are the process's, closed with the others. */
  async close(): Promise<void> {
    await this.local.close();
    this.subscriber.removeAllListeners('message');
  }
}
