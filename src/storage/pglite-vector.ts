import type { Extension } from '@electric-sql/pglite';

let vector: Promise<Extension> | null = null;

/**
 * pgvector for PGlite, imported on first use: a process on PostgreSQL, or one that never
 * opens a tenant database, never loads it. The module is small (the extension's archive is
 * unpacked into each PGlite that is made with it), but it is one more thing held per process.
 */
export function pgliteVector(): Promise<Extension> {
  vector ??= import('@electric-sql/pglite-pgvector').then((module) => module.vector);
  return vector;
}
