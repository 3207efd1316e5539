import type { RedisCommands } from '../../storage/redis.js';

/** How many instances share the ledger: the prefetch splits what is left between them. */
export interface InstanceCount {
  count(): number;
  close(): Promise<void>;
}

/** One process and an in-process ledger: nobody to share with. */
export const SINGLE_INSTANCE: InstanceCount = { count: () => 1, close: async () => {} };

const KEY = 'llmb:instances';
/** An instance not heard of for this long is gone. */
const LIVES_MS = 15_000;
const BEAT_MS = 5_000;

/**
 * Instances register themselves in one sorted set (score: until when they count) every few
 * seconds and read how many are there. A count that is off for a few seconds only changes
 * how much each takes ahead, never what a limit admits.
 */
export class RedisInstanceCount implements InstanceCount {
  private known = 1;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: RedisCommands,
    private readonly holder: string,
  ) {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), BEAT_MS);
    this.timer.unref();
  }

  count(): number {
    return this.known;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.client.zrem(KEY, this.holder).catch(() => {});
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    try {
      const [, , count] = (await this.client
        .multi()
        .zadd(KEY, now + LIVES_MS, this.holder)
        .zremrangebyscore(KEY, '-inf', now)
        .zcard(KEY)
        .exec()) ?? [null, null, [null, 1]];
      const value = count?.[1];
      if (typeof value === 'number' && value > 0) this.known = value;
    } catch {
      // The last count stands; the ledger's own calls report Redis trouble.
    }
  }
}
