import { divideHalfEven, formatMicros } from '../../domain/money.js';
import { InvoiceRepository } from '../../storage/repositories/invoices.js';
import { PricePlanRepository } from '../../storage/repositories/price-plans.js';
import { UsageRecordRepository } from '../../storage/repositories/usage-records.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { planAt } from './charge.js';
import { periodBounds } from './periods.js';

/** One tenant's line of the platform report. */
export interface TenantBilling {
  tenant_id: string;
  slug: string;
  currency: string | null;
  requests: number;
  /** What the period's usage was charged (its records' charges, exact). */
  charge: string;
  /** What the upstreams billed the platform for it, in US dollars. */
  provider_cost_usd: string;
  /** Provider cost in the plan's currency, at the plan's `usd_rate`. */
  provider_cost: string;
  margin: string;
  invoice_number: string | null;
  invoice_status: string | null;
  invoice_total: string | null;
}

/** Whole 1e-10 dollars (the costs' stored precision) from an exact decimal string. */
function costUnits(cost: string): bigint {
  const [whole = '0', fraction = ''] = cost.split('.');
  return BigInt(whole) * 10_000_000_000n + BigInt(fraction.padEnd(10, '0').slice(0, 10));
}

/**
 * The platform's view of a period: per tenant, the charge of its usage, what that usage cost
 * upstream and the margin between them, and its invoice if finalized. Usage is counted by
 * its time, whichever invoice billed it.
 */
export async function billingReport(
  tenants: TenantService,
  period: string,
): Promise<TenantBilling[]> {
  const { start, end } = periodBounds(period);
  const rows: TenantBilling[] = [];
  for (const tenant of await tenants.list()) {
    const db = tenants.database(tenant);
    const plan = planAt(await new PricePlanRepository(db).list(), new Date(end.getTime() - 1));
    const totals = await new UsageRecordRepository(db).totals(start, end);
    const invoice = await new InvoiceRepository(db).forPeriod(period);
    const usdRate = BigInt(plan?.usdRate ?? 1_000_000);
    const cost = Number(divideHalfEven(costUnits(totals.cost) * usdRate, 10_000_000_000n));
    rows.push({
      tenant_id: tenant.id,
      slug: tenant.slug,
      currency: plan?.currency ?? null,
      requests: totals.requests,
      charge: formatMicros(totals.charge),
      provider_cost_usd: totals.cost,
      provider_cost: formatMicros(cost),
      margin: formatMicros(totals.charge - cost),
      invoice_number: invoice?.number ?? null,
      invoice_status: invoice?.status ?? null,
      invoice_total: invoice === null ? null : formatMicros(invoice.total),
    });
  }
  return rows;
}
