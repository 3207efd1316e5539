import type { RedisCommands, RedisConnection } from '../../storage/redis.js';
import { fieldOf, GroupReader, type StreamEntry } from '../../storage/redis-streams.js';
import type { PlatformEvent } from './event-log.js';

/** One event handed to a consumer; handed out again until acknowledged. */
export interface FedEvent {
  /** The feed's id for the entry (a stream entry id), not the event's. */
  entryId: string;
  /** Null when the entry is not an event at all (set it aside by acknowledging it). */
  event: PlatformEvent | null;
  /** How many times it has been handed out, this time included. */
  attempts: number;
}

/**
 * The event log read by one consumer group: each event goes to one consumer among many, and
 * one a consumer took and never acknowledged (it died, its database was down) goes to the
 * next reader once idle for the claim time. Unlike the usage queue, acknowledged events stay
 * in the log: other groups and `recent()` read it too, and its length is capped instead.
 */
export interface EventFeed {
  /** Joins the group before anything is read, so no event appended from now on is missed. */
  start?(): Promise<void>;
  /** Up to `count` entries: idle ones of any consumer first, then new ones, waiting up to `blockMs`. */
  read(consumer: string, count: number, blockMs: number): Promise<FedEvent[]>;
  ack(entryIds: string[]): Promise<void>;
  close(): Promise<void>;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An event as the log encodes it, or null for anything else. */
export function decodePlatformEvent(text: string): PlatformEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(raw) || typeof raw.id !== 'string' || typeof raw.type !== 'string') return null;
  if (!(typeof raw.tenantId === 'string' || raw.tenantId === null) || !isRecord(raw.data))
    return null;
  const at = new Date(typeof raw.at === 'string' ? raw.at : Number.NaN);
  if (Number.isNaN(at.getTime())) return null;
  return { id: raw.id, type: raw.type, at, tenantId: raw.tenantId, data: raw.data };
}

function fed([entryId, fields]: StreamEntry, attempts: number): FedEvent {
  return { entryId, event: decodePlatformEvent(fieldOf(fields, 'event') ?? ''), attempts };
}

export interface RedisEventFeedOptions {
  /** Commands: claim, acknowledge. */
  client: RedisCommands;
  /**
   * Its own connection: a blocking XREADGROUP holds it while it waits. The feed owns it and
   * cuts it on close, which ends a read waiting on it.
   */
  blocking: RedisConnection;
  /** The event log's stream. */
  stream: string;
  /** The consumer group: one per kind of consumer (webhooks, alerts...). */
  group: string;
  claimIdleMs: number;
}

/** The event log's Redis Stream, read through a consumer group. */
export class RedisEventFeed implements EventFeed {
  private readonly group: GroupReader;

  constructor(private readonly options: RedisEventFeedOptions) {
    this.group = new GroupReader({
      client: options.client,
      blocking: () => options.blocking,
      stream: options.stream,
      group: options.group,
      start: '$',
      claimIdleMs: options.claimIdleMs,
    });
  }

  /**
   * Makes the group, reading from the stream's end: a first start delivers what happens from
   * now on, not the log's whole history. Later starts resume where the group stopped.
   */
  start(): Promise<void> {
    return this.group.ensure();
  }

  async read(consumer: string, count: number, blockMs: number): Promise<FedEvent[]> {
    const taken = await this.group.read(consumer, count, blockMs);
    return taken.map(({ entry, attempts }) => fed(entry, attempts));
  }

  async ack(entryIds: string[]): Promise<void> {
    if (entryIds.length === 0) return;
    await this.options.client.xack(this.options.stream, this.options.group, ...entryIds);
  }

  async close(): Promise<void> {
    this.options.blocking.disconnect();
  }
}
