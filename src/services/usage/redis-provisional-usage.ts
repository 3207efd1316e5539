import type { RedisCommands } from '../../storage/redis.js';
import { keyBeside } from '../../storage/redis-keys.js';
import type { ProvisionalUsage } from './provisional-usage.js';
import type { UsageEvent } from './usage-records.js';
import { decodeUsageEvent, encodeUsageEvent } from './usage-wire.js';

export interface RedisProvisionalUsageOptions {
  client: RedisCommands;
  /** The usage stream's key: the records live beside it, under its name. */
  stream: string;
}

/**
 * Takes the records last written before ARGV[1], leasing each until ARGV[2]; a record whose
 * event is gone is dropped from the index. Atomic, so two sweepers never take the same one.
 */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local taken = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    table.insert(taken, raw)
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return taken
`;

/**
 * The records in a hash (event id -> event) with a sorted set of when each was last written.
 * Both keys carry the stream's name as their hash tag, so they share a cluster slot and the
 * claim script may touch both.
 */
export class RedisProvisionalUsage implements ProvisionalUsage {
  private readonly events: string;
  private readonly times: string;

  constructor(private readonly options: RedisProvisionalUsageOptions) {
    this.events = keyBeside(options.stream, 'provisional');
    this.times = keyBeside(options.stream, 'provisional:at');
  }

  async record(event: UsageEvent, at: number): Promise<void> {
    await this.options.client
      .multi()
      .hset(this.events, event.id, encodeUsageEvent(event))
      .zadd(this.times, at, event.id)
      .exec();
  }

  async settle(eventId: string): Promise<void> {
    await this.options.client.multi().hdel(this.events, eventId).zrem(this.times, eventId).exec();
  }

  async claimOrphans(before: number, leaseUntil: number, count: number): Promise<UsageEvent[]> {
    const raws = (await this.options.client.eval(
      CLAIM,
      2,
      this.events,
      this.times,
      before,
      leaseUntil,
      count,
    )) as string[];
    const events: UsageEvent[] = [];
    for (const raw of raws) {
      const event = decodeUsageEvent(raw);
      if (event !== null) events.push(event);
    }
    return events;
  }

  async size(): Promise<number> {
    return this.options.client.hlen(this.events);
  }

  async close(): Promise<void> {}
}
