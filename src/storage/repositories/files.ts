import { type Kysely, sql } from 'kysely';
import type { TenantSchema } from '../tenant-schema.js';

/** A stored file's description (its content is read apart). */
export interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  bytes: number;
  createdAt: Date;
}

/** Content is written in pieces of this size: no row, and no read, grows with the file. */
export const FILE_CHUNK_BYTES = 1024 * 1024;

const toFile = (row: {
  id: string;
  filename: string;
  purpose: string;
  bytes: string | number;
  created_at: Date;
}): StoredFile => ({
  id: row.id,
  filename: row.filename,
  purpose: row.purpose,
  bytes: Number(row.bytes),
  createdAt: new Date(row.created_at),
});

/** A tenant's files, in its own database. */
export class FilesRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  /**
   * Stores the description and the content in one transaction, so a file is whole or absent;
   * false, storing nothing, when the tenant's files would pass `quotaBytes`. The check and the
   * write hold one lock, so uploads at the same moment cannot pass the quota together.
   */
  async put(file: StoredFile, content: Uint8Array, quotaBytes: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('files:quota'))`.execute(trx);
      const used = await trx
        .selectFrom('files')
        .select((eb) => eb.fn.coalesce(eb.fn.sum<string | number>('bytes'), eb.lit(0)).as('total'))
        .executeTakeFirstOrThrow();
      if (Number(used.total) + content.length > quotaBytes) return false;
      await trx
        .insertInto('files')
        .values({
          id: file.id,
          filename: file.filename,
          purpose: file.purpose,
          bytes: file.bytes,
          created_at: file.createdAt,
        })
        .execute();
      for (let seq = 0; seq * FILE_CHUNK_BYTES < content.length; seq++) {
        const data = content.subarray(seq * FILE_CHUNK_BYTES, (seq + 1) * FILE_CHUNK_BYTES);
        await trx.insertInto('file_chunks').values({ file_id: file.id, seq, data }).execute();
      }
      return true;
    });
  }

  async get(id: string): Promise<StoredFile | null> {
    const row = await this.db
      .selectFrom('files')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? null : toFile(row);
  }

  /** Newest first (or oldest with `asc`), after the file `after`, optionally of one purpose. */
  async list(options: {
    limit: number;
    order: 'asc' | 'desc';
    after?: string;
    purpose?: string;
  }): Promise<StoredFile[]> {
    let query = this.db
      .selectFrom('files')
      .selectAll()
      .orderBy('created_at', options.order)
      .orderBy('id', options.order)
      .limit(options.limit);
    if (options.purpose !== undefined) query = query.where('purpose', '=', options.purpose);
    if (options.after !== undefined) {
      const cursor = await this.get(options.after);
      if (cursor !== null) {
        const op = options.order === 'asc' ? '>' : '<';
        query = query.where((eb) =>
          eb.or([
            eb('created_at', op, cursor.createdAt),
            eb.and([eb('created_at', '=', cursor.createdAt), eb('id', op, cursor.id)]),
          ]),
        );
      }
    }
    return (await query.execute()).map(toFile);
  }

  /** The content's chunks in order, read one at a time. */
  async *content(id: string): AsyncGenerator<Uint8Array> {
    for (let seq = 0; ; seq++) {
      const row = await this.db
        .selectFrom('file_chunks')
        .select('data')
        .where('file_id', '=', id)
        .where('seq', '=', seq)
        .executeTakeFirst();
      if (row === undefined) return;
      yield row.data;
    }
  }

  /** True when there was such a file; its chunks go with it. */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('files').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
