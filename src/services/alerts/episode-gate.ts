import type { RedisCommands } from '../../storage/redis.js';

/**
 * Makes an alert episode open once across every instance: the first to see the condition
 * opens it and tells; the others find it open. An episode that nobody keeps open goes by
 * itself when its time runs out.
 */
export interface EpisodeGate {
  /** True when this call opened the episode (nobody held it). */
  open(key: string, ttlMs: number): Promise<boolean>;
  /** Keeps an open episode open for another `ttlMs`. */
  keep(key: string, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}

export class MemoryEpisodeGate implements EpisodeGate {
  private readonly until = new Map<string, number>();

  constructor(private readonly clock: () => number = Date.now) {}

  async open(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    const held = this.until.get(key);
    if (held !== undefined && held > now) return false;
    this.until.set(key, now + ttlMs);
    return true;
  }

  async keep(key: string, ttlMs: number): Promise<void> {
    this.until.set(key, this.clock() + ttlMs);
  }

  async close(): Promise<void> {
    this.until.clear();
  }
}

export class RedisEpisodeGate implements EpisodeGate {
  constructor(private readonly client: RedisCommands) {}

  async open(key: string, ttlMs: number): Promise<boolean> {
    return (await this.client.set(key, '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async keep(key: string, ttlMs: number): Promise<void> {
    await this.client.set(key, '1', 'PX', ttlMs);
  }

  /** The connection is the process's, closed with the others. */
  async close(): Promise<void> {}
}
