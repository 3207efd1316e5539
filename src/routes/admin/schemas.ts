import { type TSchema, Type } from '@sinclair/typebox';
import { MAX_ALLOWED_MODELS, MAX_MODEL_NAME } from '../../services/access/model-access.js';
import type { TenantRole } from '../../storage/tenant-schema.js';
import { ErrorResponse } from '../v1/schemas.js';

/** Shared pieces of the admin API's schemas, so every route documents them alike. */

export const Role = Type.Unsafe<TenantRole>({
  type: 'string',
  enum: ['owner', 'admin', 'member', 'viewer', 'billing'],
});

export const TenantParams = Type.Object({
  tenant: Type.String({ description: "The tenant's id (`tnt_...`) or slug." }),
});

export const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse };

/**
 * A list of model names on a tenant, a user or a key; null for every model. A request may use
 * a model only if the tenant, the key's user and the key all allow it.
 */
export const AllowedModels = Type.Union(
  [
    Type.Array(Type.String({ minLength: 1, maxLength: MAX_MODEL_NAME, pattern: '\\S' }), {
      minItems: 1,
      maxItems: MAX_ALLOWED_MODELS,
    }),
    Type.Null(),
  ],
  {
    description:
      'Model names (as in `/v1/models`) this level allows; null: no limit at this level. The models a key may use are those its tenant, its user and the key itself all allow.',
  },
);

export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

/** What a tenant's API key and a platform key both tell of their life, and the secret once. */
export const KeyLifecycle = {
  expires_at: NullableTimestamp,
  revoked_at: NullableTimestamp,
  previous_valid_until: {
    ...NullableTimestamp,
    description: 'Until when the secret replaced by the last rotation still works.',
  },
  last_used_at: { ...NullableTimestamp, description: 'Recorded about once a minute.' },
  created_at: Timestamp,
  secret: Type.Optional(
    Type.String({ description: 'Only in the answers to create and rotate, never again.' }),
  ),
};

/** The body of a key rotation, for both kinds of key. */
export const RotateKey = Type.Object(
  { grace_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400 })) },
  { additionalProperties: false, examples: [{ grace_seconds: 600 }] },
);

/** OpenAI's list envelope. */
export function ListOf<T extends TSchema>(item: T) {
  return Type.Object({ object: Type.Literal('list'), data: Type.Array(item) });
}
