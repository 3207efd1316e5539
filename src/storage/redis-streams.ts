import type { RedisCommands } from './redis.js';

/** A stream entry as ioredis returns it: its id and its fields, name and value in turn. */
export type StreamEntry = [id: string, fields: string[]];

export interface GroupRead {
  stream: string;
  group: string;
  consumer: string;
  count: number;
}

export function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Makes the consumer group (and the stream) unless it exists; `start` is `0` or `$`. */
async function createGroup(
  client: RedisCommands,
  stream: string,
  group: string,
  start: '0' | '$',
): Promise<void> {
  try {
    await client.xgroup('CREATE', stream, group, start, 'MKSTREAM');
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('BUSYGROUP')) return;
    throw error;
  }
}

/** Redis lost its data (or was flushed) and the group with it: make it again. */
export const isNoGroup = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('NOGROUP');

/**
 * Entries any consumer took and left idle for `idleMs` (it died, or its work failed),
 * claimed for `read.consumer`, each with how often it has been handed out, this time
 * included. An entry deleted or trimmed meanwhile is not returned (Redis 7 drops it from
 * the pending list).
 */
async function claimIdle(
  client: RedisCommands,
  read: GroupRead,
  idleMs: number,
): Promise<{ entry: StreamEntry; attempts: number }[]> {
  const { stream, group, consumer, count } = read;
  const pending = (await client.xpending(stream, group, 'IDLE', idleMs, '-', '+', count)) as [
    string,
    string,
    number,
    number,
  ][];
  if (pending.length === 0) return [];
  const times = new Map(pending.map(([id, , , delivered]) => [id, Number(delivered)]));
  const claimed = (await client.xclaim(
    stream,
    group,
    consumer,
    idleMs,
    ...times.keys(),
  )) as (StreamEntry | null)[];
  return claimed
    .filter((entry): entry is StreamEntry => entry !== null && Array.isArray(entry[1]))
    .map((entry) => ({ entry, attempts: (times.get(entry[0]) ?? 0) + 1 }));
}

/** Entries nobody has been handed yet, waiting up to `blockMs` for some to arrive. */
async function readNew(
  blocking: RedisCommands,
  read: GroupRead,
  blockMs: number,
): Promise<StreamEntry[]> {
  const { stream, group, consumer, count } = read;
  const reply = (await blocking.xreadgroup(
    'GROUP',
    group,
    consumer,
    'COUNT',
    count,
    'BLOCK',
    Math.max(1, blockMs),
    'STREAMS',
    stream,
    '>',
  )) as [string, StreamEntry[]][] | null;
  return reply?.[0]?.[1] ?? [];
}

/**
 * One read for a consumer: entries others left idle first (claimed), new ones otherwise;
 * each with how often it has been handed out.
 */
async function readGroup(
  connections: { client: RedisCommands; blocking: RedisCommands },
  read: GroupRead,
  claimIdleMs: number,
  blockMs: number,
): Promise<{ entry: StreamEntry; attempts: number }[]> {
  const claimed = await claimIdle(connections.client, read, claimIdleMs);
  if (claimed.length > 0) return claimed;
  return (await readNew(connections.blocking, read, blockMs)).map((entry) => ({
    entry,
    attempts: 1,
  }));
}

export interface GroupReaderOptions {
  /** Commands: make the group, claim idle entries. */
  client: RedisCommands;
  /** The connection a blocking read waits on, asked for at each read (made on first use). */
  blocking: () => RedisCommands;
  stream: string;
  group: string;
  /** Where a group made anew starts: `0` the whole stream, `$` what comes from now on. */
  start: '0' | '$';
  claimIdleMs: number;
}

/**
 * One consumer group's reads, as every stream consumer does them: the group is made before
 * the first read, made again when Redis lost it (or was flushed), and each read hands out
 * entries others left idle first, new ones otherwise.
 */
export class GroupReader {
  private made: Promise<void> | null = null;

  constructor(private readonly options: GroupReaderOptions) {}

  /** Makes the group unless it exists; a failure is tried again on the next call. */
  ensure(): Promise<void> {
    const { client, stream, group, start } = this.options;
    this.made ??= createGroup(client, stream, group, start).catch((error: unknown) => {
      this.made = null;
      throw error;
    });
    return this.made;
  }

  async read(
    consumer: string,
    count: number,
    blockMs: number,
  ): Promise<{ entry: StreamEntry; attempts: number }[]> {
    await this.ensure();
    const { client, blocking, stream, group, claimIdleMs } = this.options;
    try {
      const connections = { client, blocking: blocking() };
      return await readGroup(connections, { stream, group, consumer, count }, claimIdleMs, blockMs);
    } catch (error) {
      // Redis lost its data (or was flushed): make the group again on the next read.
      if (isNoGroup(error)) this.made = null;
      throw error;
    }
  }
}

/** Done with, and gone: acknowledged and deleted in one step, so the stream holds the backlog. */
export async function ackAndDelete(
  client: RedisCommands,
  stream: string,
  group: string,
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  await client
    .multi()
    .xack(stream, group, ...ids)
    .xdel(stream, ...ids)
    .exec();
}
