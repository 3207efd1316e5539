import { type TSchema, Type } from '@sinclair/typebox';

/**
 * OpenAI's cursor page (`/v1/files`, `/v1/batches`, a response's input items): the list
 * envelope with the first and last ids, for `after` to go on from, and whether more follow.
 */
export function CursorListOf<T extends TSchema>(item: T) {
  return Type.Object({
    object: Type.Literal('list'),
    data: Type.Array(item),
    first_id: Type.Union([Type.String(), Type.Null()]),
    last_id: Type.Union([Type.String(), Type.Null()]),
    has_more: Type.Boolean(),
  });
}

/** A page of items with ids, in that envelope. */
export function cursorList<T extends { id: string }>(data: T[], hasMore: boolean) {
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}
