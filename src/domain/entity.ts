/**
 * How the API, the CLI and the audit log show one kind of object: one JSON form each, so a
 * field added to an entity shows up alike everywhere (secrets are never part of it).
 */
export interface EntityKind<T> {
  /** The `object` field of its JSON form, and its audit entries' `target_type`. */
  readonly object: string;
  id(value: T): string;
  json(value: T): Record<string, unknown>;
}

/** Dates as the JSON forms write them. */
export const iso = (date: Date | null): string | null => date?.toISOString() ?? null;
