import { type Kysely, type Selectable, sql } from 'kysely';
import { type LimitValues, perLimitKind } from '../../domain/limit-kinds.js';
import type { LimitRule } from '../../domain/limit-rule.js';
import type { LimitScope } from '../../domain/roles.js';
import type { RateLimitsTable, TenantSchema } from '../tenant-schema.js';

/** Where a rule applies; a tenant has at most one rule per target. */
export interface LimitTarget {
  scope: LimitScope;
  subjectId: string | null;
  model: string | null;
}

function toRule(row: Selectable<RateLimitsTable>): LimitRule {
  return {
    id: row.id,
    scope: row.scope,
    subjectId: row.subject_id,
    model: row.model,
    limits: perLimitKind((name) => row[name]),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** A tenant's rate limit rules, in its own database: one column per kind of limit. */
export class LimitRuleRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async list(): Promise<LimitRule[]> {
    const rows = await this.db.selectFrom('rate_limits').selectAll().orderBy('id').execute();
    return rows.map(toRule);
  }

  async findTarget(target: LimitTarget): Promise<LimitRule | null> {
    const row = await this.db
      .selectFrom('rate_limits')
      .selectAll()
      .where('scope', '=', target.scope)
      .where(sql<boolean>`coalesce(subject_id, '') = ${target.subjectId ?? ''}`)
      .where(sql<boolean>`coalesce(model, '') = ${target.model ?? ''}`)
      .executeTakeFirst();
    return row === undefined ? null : toRule(row);
  }

  /** Sets the target's limits: a new rule with `id`, or the target's rule, every limit replaced. */
  async upsert(
    id: string,
    target: LimitTarget,
    limits: LimitValues,
    now = new Date(),
  ): Promise<LimitRule> {
    const row = await this.db
      .insertInto('rate_limits')
      .values({
        id,
        scope: target.scope,
        subject_id: target.subjectId,
        model: target.model,
        ...limits,
        created_at: now,
        updated_at: now,
      })
      // The unique index is on expressions (a null subject or model is one target).
      .onConflict((conflict) =>
        conflict
          .expression(sql`scope, coalesce(subject_id, ''), coalesce(model, '')`)
          .doUpdateSet((eb) => ({
            ...perLimitKind((name) => eb.ref(`excluded.${name}`)),
            updated_at: eb.ref('excluded.updated_at'),
          })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRule(row);
  }

  async delete(id: string): Promise<LimitRule | null> {
    const row = await this.db
      .deleteFrom('rate_limits')
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toRule(row);
  }
}
