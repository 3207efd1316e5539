import { type Kysely, type Selectable, sql } from 'kysely';
import type { Credit, ModelRate, PricePlan } from '../../domain/billing.js';
import type { Currency } from '../../domain/money.js';
import type { CreditsTable, PricePlansTable, TenantSchema } from '../tenant-schema.js';

function toRates(raw: Record<string, Record<string, number>>): Record<string, ModelRate> {
  return Object.fromEntries(
    Object.entries(raw).map(([model, rate]) => [
      model,
      {
        input: Number(rate.input ?? 0),
        cachedInput: Number(rate.cached_input ?? 0),
        output: Number(rate.output ?? 0),
      },
    ]),
  );
}

function toPlan(row: Selectable<PricePlansTable>): PricePlan {
  // jsonb comes back parsed from PostgreSQL and PGlite alike; a string only from elsewhere.
  const rates = typeof row.rates === 'string' ? JSON.parse(row.rates) : row.rates;
  return {
    id: row.id,
    effectiveAt: new Date(row.effective_at),
    currency: row.currency as Currency,
    markupPpm: Number(row.markup_ppm),
    usdRate: Number(row.usd_rate_micros),
    rates: toRates(rates),
    baseFee: Number(row.base_fee_micros),
    included: Number(row.included_micros),
    byokFee: Number(row.byok_fee_micros),
    taxPpm: Number(row.tax_ppm),
    createdAt: new Date(row.created_at),
  };
}

/** A tenant's price plan versions, oldest first. */
export class PricePlanRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async list(): Promise<PricePlan[]> {
    const rows = await this.db
      .selectFrom('price_plans')
      .selectAll()
      .orderBy('effective_at')
      .execute();
    return rows.map(toPlan);
  }

  async insert(plan: PricePlan): Promise<PricePlan> {
    const rates = Object.fromEntries(
      Object.entries(plan.rates).map(([model, rate]) => [
        model,
        { input: rate.input, cached_input: rate.cachedInput, output: rate.output },
      ]),
    );
    const row = await this.db
      .insertInto('price_plans')
      .values({
        id: plan.id,
        effective_at: plan.effectiveAt,
        currency: plan.currency,
        markup_ppm: plan.markupPpm,
        usd_rate_micros: plan.usdRate,
        rates: JSON.stringify(rates),
        base_fee_micros: plan.baseFee,
        included_micros: plan.included,
        byok_fee_micros: plan.byokFee,
        tax_ppm: plan.taxPpm,
        created_at: plan.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toPlan(row);
  }
}

function toCredit(row: Selectable<CreditsTable>): Credit {
  return {
    id: row.id,
    currency: row.currency as Currency,
    amount: Number(row.amount_micros),
    remaining: Number(row.remaining_micros),
    reason: row.reason,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    createdAt: new Date(row.created_at),
  };
}

/** A tenant's credit grants. */
export class CreditRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async list(): Promise<Credit[]> {
    const rows = await this.db.selectFrom('credits').selectAll().orderBy('id').execute();
    return rows.map(toCredit);
  }

  /** Locks the rows (in a transaction), so two finalizations never spend one credit twice. */
  async listForUpdate(): Promise<Credit[]> {
    const rows = await this.db
      .selectFrom('credits')
      .selectAll()
      .orderBy('id')
      .forUpdate()
      .execute();
    return rows.map(toCredit);
  }

  async insert(credit: Credit): Promise<Credit> {
    const row = await this.db
      .insertInto('credits')
      .values({
        id: credit.id,
        currency: credit.currency,
        amount_micros: credit.amount,
        remaining_micros: credit.remaining,
        reason: credit.reason,
        expires_at: credit.expiresAt,
        created_at: credit.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toCredit(row);
  }

  /** Adds `delta` (negative: spends) to what is left of a credit. */
  async adjust(id: string, delta: number): Promise<void> {
    await this.db
      .updateTable('credits')
      .set({ remaining_micros: sql<number>`remaining_micros + ${delta}` })
      .where('id', '=', id)
      .execute();
  }
}
