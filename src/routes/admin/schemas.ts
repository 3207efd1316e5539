import { type TSchema, Type } from '@sinclair/typebox';
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

export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

/** OpenAI's list envelope. */
export function ListOf<T extends TSchema>(item: T) {
  return Type.Object({ object: Type.Literal('list'), data: Type.Array(item) });
}
