import type { EntityKind } from './entity.js';
import type { LimitValues } from './limit-kinds.js';
import type { LimitScope } from './roles.js';

/** A tenant's rate limit rule: one per target (the tenant, a user or a key; all models or one). */
export interface LimitRule {
  id: string;
  scope: LimitScope;
  /** The user or key the rule is for; null for the whole tenant. */
  subjectId: string | null;
  /** One model, or null for all models together. */
  model: string | null;
  /** One value per kind of limit-kinds.ts; null: that kind is not limited by this rule. */
  limits: LimitValues;
  createdAt: Date;
  updatedAt: Date;
}

/** The limits are flat fields, one per kind, between the target and the dates. */
export function limitRuleJson(rule: LimitRule) {
  return {
    object: 'rate_limit' as const,
    id: rule.id,
    scope: rule.scope,
    subject_id: rule.subjectId,
    model: rule.model,
    ...rule.limits,
    created_at: rule.createdAt.toISOString(),
    updated_at: rule.updatedAt.toISOString(),
  };
}

export const LIMIT_RULE: EntityKind<LimitRule> = {
  object: 'rate_limit',
  id: (rule) => rule.id,
  json: limitRuleJson,
};
