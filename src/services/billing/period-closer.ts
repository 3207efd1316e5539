import { GatewayError } from '../../errors/gateway-error.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { InvoiceService } from './invoice-service.js';
import { periodBounds, periodOf } from './periods.js';

/** What closing a period did for one tenant. */
export type CloseOutcome =
  | { tenant: string; outcome: 'created' | 'existing'; number: string }
  | { tenant: string; outcome: 'skipped'; reason: string }
  | { tenant: string; outcome: 'failed'; reason: string };

/**
 * Finalizes one period's invoice for every tenant with a price plan: what the worker does at
 * each period's close and `llm-backend billing close` does on demand. Safe to run on every
 * instance at once: each finalization is idempotent and one at a time per tenant and period.
 */
export async function closePeriod(
  tenants: TenantService,
  invoices: InvoiceService,
  period: string,
  actor: Actor = SYSTEM_ACTOR,
): Promise<CloseOutcome[]> {
  invoices.checkPeriod(period);
  const outcomes: CloseOutcome[] = [];
  for (const tenant of await tenants.list()) {
    if (tenant.status === 'deleting') continue;
    try {
      const { invoice, created } = await invoices.finalize(tenant.id, period, actor);
      outcomes.push({
        tenant: tenant.slug,
        outcome: created ? 'created' : 'existing',
        number: invoice.number ?? '',
      });
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'price_plan_not_found')
        outcomes.push({ tenant: tenant.slug, outcome: 'skipped', reason: 'no price plan' });
      else
        outcomes.push({
          tenant: tenant.slug,
          outcome: 'failed',
          reason: error instanceof Error ? error.message : String(error),
        });
    }
  }
  return outcomes;
}

export interface PeriodCloserOptions {
  tenants: TenantService;
  invoices: InvoiceService;
  log: {
    info(details: object, message: string): void;
    warn(details: object, message: string): void;
  };
  /** How often it looks for a period to close. */
  intervalMs: number;
  now?: () => Date;
}

/**
 * The worker's part: every interval, closes the period that ended last (the previous UTC
 * month) for every tenant that has no invoice for it yet. A period whose usage is still
 * queued is tried again at the next interval.
 */
export class PeriodCloser {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(private readonly options: PeriodCloserOptions) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .catch((error: unknown) => this.options.log.warn({ err: error }, 'period close failed'))
        .finally(() => {
          this.running = null;
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Closes the last ended period once; returns what it did. */
  async tick(): Promise<CloseOutcome[]> {
    const now = this.options.now?.() ?? new Date();
    const period = periodOf(new Date(periodBounds(periodOf(now)).start.getTime() - 1));
    const outcomes = await closePeriod(this.options.tenants, this.options.invoices, period);
    for (const outcome of outcomes) {
      if (outcome.outcome === 'created')
        this.options.log.info({ period, ...outcome }, 'invoice finalized');
      if (outcome.outcome === 'failed')
        this.options.log.warn({ period, ...outcome }, 'invoice not finalized yet');
    }
    return outcomes;
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
