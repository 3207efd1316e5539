import type { Kysely } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { LimitScope, TenantSchema } from '../../storage/tenant-schema.js';

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

/** Refuses a user or key the tenant does not have: `user_not_found` or `key_not_found`. */
export async function checkSubject(
  db: Kysely<TenantSchema>,
  scope: LimitScope,
  subjectId: string,
): Promise<void> {
  const table = scope === 'user' ? 'users' : 'api_keys';
  const found = await db
    .selectFrom(table)
    .select('id')
    .where('id', '=', subjectId)
    .executeTakeFirst();
  if (found === undefined)
    throw new GatewayError(scope === 'user' ? 'user_not_found' : 'key_not_found', {
      param: 'subject_id',
    });
}
