import {
  LIMIT_KIND_NAMES,
  type LimitOptions,
  optionName,
  perLimitKind,
} from '../../domain/limit-kinds.js';
import { LIMIT_RULE, type LimitRule } from '../../domain/limit-rule.js';
import type { LimitScope } from '../../domain/roles.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { LimitRuleRepository } from '../../storage/repositories/limit-rules.js';
import { newId } from '../../utils/ids.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { checkSubject, subjectOf } from './subjects.js';

export type { LimitRule };

/** The target, and one option per kind of limit (`requestsPerMinute`...); absent or null: none. */
export type SetLimitInput = {
  scope: LimitScope;
  subjectId?: string | null;
  model?: string | null;
} & LimitOptions;

export interface LimitRuleServiceOptions {
  tenants: TenantService;
  /** Writes and audits each change; every instance's cached rules are dropped at once. */
  changes: ChangeRecorder;
}

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

/** The input's limits, each within its kind's range; at least one must be set. */
function checkedLimits(input: SetLimitInput) {
  const limits = perLimitKind((name, { min, max }) => {
    const value = input[optionName(name)] ?? null;
    // The admin API's schema says the same; this is for callers without HTTP.
    if (value !== null && !(Number.isInteger(value) && value >= min && value <= max))
      throw invalid(`${name} must be a whole number from ${min} to ${max}.`, name);
    return value;
  });
  if (Object.values(limits).every((value) => value === null))
    throw invalid('Set at least one limit; delete the rule to lift them all.', LIMIT_KIND_NAMES[0]);
  return limits;
}

/**
 * A tenant's rate limit rules, in its own database: one rule per target (the tenant, a user
 * or a key; all models or one). Every change is audited and announced, so every instance's
 * cached rules follow at once.
 */
export class LimitRuleService {
  constructor(private readonly options: LimitRuleServiceOptions) {}

  async list(tenantRef: string): Promise<LimitRule[]> {
    const { db } = await this.options.tenants.open(tenantRef);
    return new LimitRuleRepository(db).list();
  }

  /** Creates the rule for the target, or replaces the one there. */
  async set(
    tenantRef: string,
    input: SetLimitInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ rule: LimitRule; created: boolean }> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { scope } = input;
    const target = {
      scope,
      subjectId: subjectOf(scope, input.subjectId, 'limit'),
      model: input.model ?? null,
    };
    const limits = checkedLimits(input);
    const { before, after } = await this.options.changes.tenant(db, actor, {
      action: 'rate_limit.set',
      kind: LIMIT_RULE,
      write: async (trx) => {
        await checkSubject(trx, tenant.id, scope, target.subjectId);
        const rules = new LimitRuleRepository(trx);
        const before = await rules.findTarget(target);
        return { before, after: await rules.upsert(newId('lim'), target, limits) };
      },
      invalidate: () => ({ tenantId: tenant.id }),
    });
    return { rule: after, created: before === null };
  }

  async delete(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<LimitRule> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { before } = await this.options.changes.tenant(db, actor, {
      action: 'rate_limit.delete',
      kind: LIMIT_RULE,
      write: async (trx) => {
        const rule = await new LimitRuleRepository(trx).delete(id);
        if (rule === null) throw new GatewayError('limit_not_found', { param: 'limit' });
        return { before: rule, after: null };
      },
      invalidate: () => ({ tenantId: tenant.id }),
    });
    return before;
  }
}
