import type { RedisCommands } from '../../storage/redis.js';

/**
 * A per-tenant write pause, raised while a tenant's database is copied to another server
 * (see tenant-move.ts) and seen by every instance: the usage writers hold the tenant's
 * records in their queue, and whatever opens the tenant's database waits, until it is lowered.
 * It lapses by itself after its lifetime, so a mover that dies never pauses a tenant for good.
 */
export interface TenantFence {
  raise(tenantId: string, ttlMs: number): Promise<void>;
  lower(tenantId: string): Promise<void>;
  raised(tenantId: string): Promise<boolean>;
}

/** One process: the embedded default (and the instance a move runs in). */
export class MemoryTenantFence implements TenantFence {
  private readonly until = new Map<string, number>();

  async raise(tenantId: string, ttlMs: number): Promise<void> {
    this.until.set(tenantId, Date.now() + ttlMs);
  }

  async lower(tenantId: string): Promise<void> {
    this.until.delete(tenantId);
  }

  async raised(tenantId: string): Promise<boolean> {
    const until = this.until.get(tenantId);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.until.delete(tenantId);
    return false;
  }
}

const fenceKey = (tenantId: string) => `llmb:tenant-fence:{${tenantId}}`;

/** Many instances: a key with a lifetime in Redis, read before each write it guards. */
export class RedisTenantFence implements TenantFence {
  constructor(private readonly client: RedisCommands) {}

  async raise(tenantId: string, ttlMs: number): Promise<void> {
    await this.client.set(fenceKey(tenantId), '1', 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async lower(tenantId: string): Promise<void> {
    await this.client.del(fenceKey(tenantId));
  }

  async raised(tenantId: string): Promise<boolean> {
    return (await this.client.exists(fenceKey(tenantId))) === 1;
  }
}

const POLL_MS = 50;

/**
 * Waits while the tenant's fence is raised, at most `maxMs`; true once it is down (or was
 * never up), false if it is still raised after that.
 */
export async function fenceLowered(
  fence: TenantFence,
  tenantId: string,
  maxMs: number,
): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  while (await fence.raised(tenantId)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return true;
}
