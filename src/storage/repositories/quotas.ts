import { type Kysely, type Selectable, sql } from 'kysely';
import type { Quota, QuotaMetric, QuotaPeriod } from '../../domain/quota.js';
import type { LimitScope } from '../../domain/roles.js';
import type { QuotasTable, TenantSchema } from '../tenant-schema.js';

/** What a quota binds and counts; a tenant has at most one quota per target. */
export interface QuotaTarget {
  scope: LimitScope;
  subjectId: string | null;
  metric: QuotaMetric;
  period: QuotaPeriod;
}

function toQuota(row: Selectable<QuotasTable>): Quota {
  return {
    id: row.id,
    scope: row.scope,
    subjectId: row.subject_id,
    metric: row.metric,
    period: row.period,
    // numeric comes back as an exact string.
    amount: Number(row.amount),
    thresholds: row.thresholds.map(Number),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** A tenant's token quotas and spend budgets, in its own database. */
export class QuotaRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async list(): Promise<Quota[]> {
    const rows = await this.db.selectFrom('quotas').selectAll().orderBy('id').execute();
    return rows.map(toQuota);
  }

  async findTarget(target: QuotaTarget): Promise<Quota | null> {
    const row = await this.db
      .selectFrom('quotas')
      .selectAll()
      .where('scope', '=', target.scope)
      .where(sql<boolean>`coalesce(subject_id, '') = ${target.subjectId ?? ''}`)
      .where('metric', '=', target.metric)
      .where('period', '=', target.period)
      .executeTakeFirst();
    return row === undefined ? null : toQuota(row);
  }

  /** Sets the target's quota: a new one with `id`, or the target's, amount and thresholds replaced. */
  async upsert(
    id: string,
    target: QuotaTarget,
    values: { amount: number; thresholds: number[] },
    now = new Date(),
  ): Promise<Quota> {
    const row = await this.db
      .insertInto('quotas')
      .values({
        id,
        scope: target.scope,
        subject_id: target.subjectId,
        metric: target.metric,
        period: target.period,
        amount: values.amount,
        thresholds: sql<number[]>`${values.thresholds}::smallint[]`,
        created_at: now,
        updated_at: now,
      })
      .onConflict((conflict) =>
        conflict
          .expression(sql`scope, coalesce(subject_id, ''), metric, period`)
          .doUpdateSet((eb) => ({
            amount: eb.ref('excluded.amount'),
            thresholds: eb.ref('excluded.thresholds'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    return toQuota(row);
  }

  async delete(id: string): Promise<Quota | null> {
    const row = await this.db
      .deleteFrom('quotas')
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toQuota(row);
  }
}
