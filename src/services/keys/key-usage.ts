import { ApiKeyRepository } from '../../storage/repositories/api-keys.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { PlatformKeyService } from './platform-key-service.js';

/**
 * Remembers when each key was last used and writes it in batches: a key's `last_used_at`
 * costs one update per flush interval, not a database write per request.
 */
export class KeyUsageRecorder {
  // A null tenant marks a platform admin key.
  private pending = new Map<string, { tenantId: string | null; at: Date }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly tenants: TenantService,
    private readonly platformKeys: PlatformKeyService,
    intervalMs = 60_000,
  ) {
    this.timer = setInterval(() => void this.flush().catch(() => {}), intervalMs);
    this.timer.unref();
  }

  touch(tenantId: string | null, keyId: string, at = new Date()): void {
    this.pending.set(keyId, { tenantId, at });
  }

  /** Writes what was seen since the last flush; a failed write is retried at the next one. */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [keyId, { tenantId, at }] of batch) {
      try {
        if (tenantId === null) {
          await this.platformKeys.touch(keyId, at);
          continue;
        }
        const tenant = await this.tenants.get(tenantId);
        await new ApiKeyRepository(this.tenants.database(tenant), tenant.id).touch(keyId, at);
      } catch {
        if (!this.pending.has(keyId)) this.pending.set(keyId, { tenantId, at });
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
