import { type Kysely, type Selectable, sql } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { LimitScope, RateLimitsTable, TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { type Actor, auditChange, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { checkSubject, subjectOf } from './subjects.js';

export interface LimitRule {
  id: string;
  scope: LimitScope;
  /** The user or key the rule is for; null for the whole tenant. */
  subjectId: string | null;
  /** One model, or null for all models together. */
  model: string | null;
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  maxConcurrentRequests: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface SetLimitInput {
  scope: LimitScope;
  subjectId?: string | null;
  model?: string | null;
  requestsPerMinute?: number | null;
  tokensPerMinute?: number | null;
  maxConcurrentRequests?: number | null;
}

function toRule(row: Selectable<RateLimitsTable>): LimitRule {
  return {
    id: row.id,
    scope: row.scope,
    subjectId: row.subject_id,
    model: row.model,
    requestsPerMinute: row.requests_per_minute,
    tokensPerMinute: row.tokens_per_minute,
    maxConcurrentRequests: row.max_concurrent_requests,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function limitRuleJson(rule: LimitRule) {
  return {
    id: rule.id,
    scope: rule.scope,
    subject_id: rule.subjectId,
    model: rule.model,
    requests_per_minute: rule.requestsPerMinute,
    tokens_per_minute: rule.tokensPerMinute,
    max_concurrent_requests: rule.maxConcurrentRequests,
    created_at: rule.createdAt.toISOString(),
    updated_at: rule.updatedAt.toISOString(),
  };
}

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

/**
 * A tenant's rate limit rules, in its own database: one rule per target (the tenant, a user
 * or a key; all models or one). Every change is audited and announced, so every instance's
 * cached rules follow at once.
 */
export class LimitRuleService {
  constructor(private readonly options: { tenants: TenantService; bus?: InvalidationBus }) {}

  private async database(tenantRef: string) {
    const tenant = await this.options.tenants.get(tenantRef);
    return { tenant, db: this.options.tenants.database(tenant) };
  }

  async list(tenantRef: string): Promise<LimitRule[]> {
    const { db } = await this.database(tenantRef);
    const rows = await db.selectFrom('rate_limits').selectAll().orderBy('id').execute();
    return rows.map(toRule);
  }

  /** Creates the rule for the target, or replaces the one there. */
  async set(
    tenantRef: string,
    input: SetLimitInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ rule: LimitRule; created: boolean }> {
    const { tenant, db } = await this.database(tenantRef);
    const subjectId = subjectOf(input.scope, input.subjectId, 'limit');
    const limits = {
      requests_per_minute: input.requestsPerMinute ?? null,
      tokens_per_minute: input.tokensPerMinute ?? null,
      max_concurrent_requests: input.maxConcurrentRequests ?? null,
    };
    if (Object.values(limits).every((value) => value === null))
      throw invalid(
        'Set at least one limit; delete the rule to lift them all.',
        'requests_per_minute',
      );
    if (subjectId !== null) await checkSubject(db, input.scope, subjectId);
    const before = await this.find(db, input.scope, subjectId, input.model ?? null);
    const now = new Date();
    const { rows } = await sql<Selectable<RateLimitsTable>>`
      insert into rate_limits (id, scope, subject_id, model, requests_per_minute,
        tokens_per_minute, max_concurrent_requests, created_at, updated_at)
      values (${newId('lim')}, ${input.scope}, ${subjectId}, ${input.model ?? null},
        ${limits.requests_per_minute}, ${limits.tokens_per_minute},
        ${limits.max_concurrent_requests}, ${now}, ${now})
      on conflict (scope, coalesce(subject_id, ''), coalesce(model, '')) do update set
        requests_per_minute = excluded.requests_per_minute,
        tokens_per_minute = excluded.tokens_per_minute,
        max_concurrent_requests = excluded.max_concurrent_requests,
        updated_at = excluded.updated_at
      returning *`.execute(db);
    const rule = toRule(rows[0] as Selectable<RateLimitsTable>);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'rate_limit.set',
      targetType: 'rate_limit',
      before: before,
      after: rule,
      json: limitRuleJson,
    });
    await this.options.bus?.publish({ tenantId: tenant.id });
    return { rule, created: before === null };
  }

  async delete(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<LimitRule> {
    const { tenant, db } = await this.database(tenantRef);
    const row = await db
      .deleteFrom('rate_limits')
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('limit_not_found', { param: 'limit' });
    const rule = toRule(row);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'rate_limit.delete',
      targetType: 'rate_limit',
      before: rule,
      after: null,
      json: limitRuleJson,
    });
    await this.options.bus?.publish({ tenantId: tenant.id });
    return rule;
  }

  private async find(
    db: Kysely<TenantSchema>,
    scope: LimitScope,
    subjectId: string | null,
    model: string | null,
  ): Promise<LimitRule | null> {
    const row = await db
      .selectFrom('rate_limits')
      .selectAll()
      .where('scope', '=', scope)
      .where(sql<boolean>`coalesce(subject_id, '') = ${subjectId ?? ''}`)
      .where(sql<boolean>`coalesce(model, '') = ${model ?? ''}`)
      .executeTakeFirst();
    return row === undefined ? null : toRule(row);
  }
}
