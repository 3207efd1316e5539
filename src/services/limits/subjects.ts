import type { Kysely } from 'kysely';
import type { LimitScope } from '../../domain/roles.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { ApiKeyRepository } from '../../storage/repositories/api-keys.js';
import { UserRepository } from '../../storage/repositories/users.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';

/**
 * The subject of a rule (rate limit or quota) of `scope`: null for the tenant, else the
 * user's or key's id, which must be given. `noun` names the rule in the messages.
 */
export function subjectOf(
  scope: LimitScope,
  subjectId: string | null | undefined,
  noun: string,
): string | null {
  if (scope === 'tenant') {
    if (subjectId)
      throw new GatewayError('invalid_request', {
        message: `A tenant ${noun} has no subject_id.`,
        param: 'subject_id',
      });
    return null;
  }
  if (!subjectId)
    throw new GatewayError('invalid_request', {
      message: `A '${scope}' ${noun} needs subject_id.`,
      param: 'subject_id',
    });
  return subjectId;
}

/**
 * Refuses a user or key the tenant does not have: `user_not_found` or `key_not_found`. A
 * null subject is the tenant itself.
 */
export async function checkSubject(
  db: Kysely<TenantSchema>,
  tenantId: string,
  scope: LimitScope,
  subjectId: string | null,
): Promise<void> {
  if (subjectId === null) return;
  const found =
    scope === 'user'
      ? await new UserRepository(db).find(subjectId)
      : await new ApiKeyRepository(db, tenantId).find(subjectId);
  if (found === null)
    throw new GatewayError(scope === 'user' ? 'user_not_found' : 'key_not_found', {
      param: 'subject_id',
    });
}
