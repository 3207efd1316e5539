import type { Kysely } from 'kysely';
import { whileHolding } from '../../storage/advisory-lock.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { PurgeResult, TenantService } from './tenant-service.js';

export interface ReaperLog {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface TenantReaperOptions {
  tenants: TenantService;
  control: Kysely<ControlSchema>;
  /**
   * True on PostgreSQL, where several instances may share the control plane: only the one
   * holding an advisory lock purges. PGlite serves a single process, which needs no lock (and
   * could not hold one: its only session is needed by the purge itself).
   */
  shared: boolean;
  log: ReaperLog;
  /** Time between purges; the first runs at start. */
  intervalMs?: number;
}

const HOUR_MS = 3_600_000;

/** The advisory lock's name: a constant of our own, which nothing else locks. */
export const PURGE_LOCK_NAME = 'llm-backend:tenant-purge';

/**
 * Purges the tenants whose grace period is over (export, then drop) on a timer, so deleted
 * tenants go away without an operator running `tenant purge`. Runs never overlap, and errors
 * are logged, never thrown: a failed run is simply tried again at the next tick.
 */
export class TenantReaper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly stopping = new AbortController();

  constructor(private readonly options: TenantReaperOptions) {}

  start(): void {
    if (this.timer !== null || this.stopping.signal.aborted) return;
    this.timer = setInterval(() => void this.run(), this.options.intervalMs ?? HOUR_MS);
    // The timer alone must not keep the process (or a test run) alive.
    this.timer.unref();
    void this.run();
  }

  /** Stops the timer and waits for a running purge, which stops before its next tenant. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.stopping.abort();
    await this.running;
  }

  /** One purge now, unless one is running; resolves when it is over. */
  run(): Promise<void> {
    if (this.running !== null || this.stopping.signal.aborted) {
      return this.running ?? Promise.resolve();
    }
    const { log } = this.options;
    this.running = this.purge()
      .then((result) => {
        if (result === null) return;
        if (result.purged.length > 0) log.info({ purged: result.purged }, 'purged deleted tenants');
        if (result.failed.length > 0) {
          log.error(
            { failed: result.failed },
            'deleted tenants not purged; the next purge retries',
          );
        }
      })
      .catch((error: unknown) => log.error({ err: error }, 'tenant purge failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Null when another instance holds the lock. */
  private async purge(): Promise<PurgeResult | null> {
    const { tenants, control, shared } = this.options;
    const signal = this.stopping.signal;
    const purge = () => tenants.purge(new Date(), undefined, { signal });
    if (!shared) return purge();
    // Should the lock's connection die, the lock goes with it: purge() still claims each tenant.
    return whileHolding(control, PURGE_LOCK_NAME, purge);
  }
}
