import type { RedisCommands, RedisConnection } from '../../storage/redis.js';
import {
  NO_REPLICA_WAIT,
  type PipelineResults,
  type ReplicatedStream,
  type ReplicaWait,
  throwFailed,
} from '../../storage/replica-wait.js';
import { newId } from '../../utils/ids.js';

/** The process's command connection, or one of its own that close() cuts (ownsConnection). */
type Client = RedisCommands & Partial<Pick<RedisConnection, 'disconnect'>>;

/** Something a tenant or an operator may want to be told of (delivered by webhooks). */
export interface PlatformEvent {
  /** `evt_...`, made once, so a delivery retried is recognised as the same event. */
  id: string;
  type: string;
  at: Date;
  /** Null for platform-wide events. */
  tenantId: string | null;
  data: Record<string, unknown>;
}

export type NewEvent = Omit<PlatformEvent, 'id' | 'at'>;

/**
 * Where events are appended for delivery: a Redis Stream every instance writes to, or an
 * in-process list. Appending never fails a request: a lost event is logged by the caller.
 */
export interface EventLog {
  append(event: NewEvent): Promise<PlatformEvent>;
  /** The newest events, newest first. */
  recent(limit: number): Promise<PlatformEvent[]>;
  close(): Promise<void>;
}

const made = (event: NewEvent): PlatformEvent => ({ ...event, id: newId('evt'), at: new Date() });

function encode(event: PlatformEvent): string {
  return JSON.stringify({ ...event, at: event.at.toISOString() });
}

function decode(text: string): PlatformEvent | null {
  try {
    const raw = JSON.parse(text) as PlatformEvent & { at: string };
    return { ...raw, at: new Date(raw.at) };
  } catch {
    return null;
  }
}

export class MemoryEventLog implements EventLog {
  private readonly events: PlatformEvent[] = [];
  private readonly listeners = new Set<(event: PlatformEvent) => void>();

  constructor(private readonly max = 10_000) {}

  async append(event: NewEvent): Promise<PlatformEvent> {
    const full = made(event);
    this.events.push(full);
    if (this.events.length > this.max) this.events.splice(0, this.events.length - this.max);
    for (const listener of this.listeners) listener(full);
    return full;
  }

  /**
   * Told of every event appended from now on: what an in-process consumer (the webhook
   * dispatcher's MemoryEventFeed) reads instead of a consumer group. Returns the unsubscribe.
   */
  subscribe(listener: (event: PlatformEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async recent(limit: number): Promise<PlatformEvent[]> {
    return this.events.slice(-limit).reverse();
  }

  async close(): Promise<void> {}
}

export interface RedisEventLogOptions {
  client: Client;
  /** The stream's key. */
  stream: string;
  /** Events kept (approximately); the oldest go first. */
  max?: number;
  ownsConnection?: boolean;
  /**
   * Appends wait up to this long and go to Redis together, one pipeline of XADDs, instead of
   * one round trip each (the request log: one record per request). 0: each at once.
   */
  batchMs?: number;
  /** Holds each append until the stream master's replicas have it; default: no wait. */
  replicaWait?: ReplicaWait;
  /** Which count an append no replica confirmed goes to; default 'events'. */
  waitedAs?: Extract<ReplicatedStream, 'events' | 'logs'>;
}

/** Appends waiting for the next pipeline, each with its promise's settlement. */
interface Pending {
  fields: string;
  settle: (error: unknown) => void;
}

/** A batch goes as soon as it is this large, whatever the wait. */
const MAX_BATCH = 500;

export class RedisEventLog implements EventLog {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: RedisEventLogOptions) {}

  /** The stream's key, for the feeds that read it. */
  get stream(): string {
    return this.options.stream;
  }

  async append(event: NewEvent): Promise<PlatformEvent> {
    const full = made(event);
    const { batchMs = 0 } = this.options;
    if (batchMs <= 0) {
      throwFailed(await this.send([encode(full)]));
      return full;
    }
    await new Promise<void>((resolve, reject) => {
      this.pending.push({
        fields: encode(full),
        settle: (error) => (error === null ? resolve() : reject(error)),
      });
      if (this.pending.length >= MAX_BATCH) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), batchMs);
    });
    return full;
  }

  /** Sends what waits as one pipeline; each append settles with its own command's result. */
  private flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const sent = this.send(batch.map(({ fields }) => fields)).then(
      (results) =>
        batch.forEach(({ settle }, i) => {
          settle(results?.[i]?.[0] ?? null);
        }),
      (error: unknown) => {
        for (const { settle } of batch) settle(error);
      },
    );
    this.flushing = this.flushing.then(() => sent);
  }

  /** One pipeline of appends, held until replicas have them (an event is a promise kept). */
  private send(events: string[]): Promise<PipelineResults> {
    const { client, stream, max = 100_000, replicaWait = NO_REPLICA_WAIT } = this.options;
    return replicaWait.exec(this.options.waitedAs ?? 'events', client, stream, (pipeline) => {
      for (const fields of events) pipeline.xadd(stream, 'MAXLEN', '~', max, '*', 'event', fields);
    });
  }

  async recent(limit: number): Promise<PlatformEvent[]> {
    const { client, stream } = this.options;
    const entries = (await client.xrevrange(stream, '+', '-', 'COUNT', limit)) as [
      string,
      string[],
    ][];
    return entries
      .map(([, fields]) => decode(fields[1] ?? ''))
      .filter((event): event is PlatformEvent => event !== null);
  }

  async close(): Promise<void> {
    // What still waits goes out before the connection closes.
    this.flush();
    await this.flushing;
    if (this.options.ownsConnection) this.options.client.disconnect?.();
  }
}

/** The stream every instance appends events to. */
export const EVENT_STREAM = 'llmb:events';
