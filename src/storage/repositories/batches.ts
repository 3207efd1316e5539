import type { Kysely, Selectable } from 'kysely';
import type { BatchesTable, BatchLinesTable, TenantSchema } from '../tenant-schema.js';

export type BatchRow = Selectable<BatchesTable>;
export type BatchLineRow = Selectable<BatchLinesTable>;

/** A line as the batch was created with it: a request to run, or an error already known. */
export interface NewBatchLine {
  idx: number;
  customId: string | null;
  request: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

/** How a line ended: an answer (any status), an error, or never run (cancelled). */
export interface LineEnding {
  state: 'done' | 'failed' | 'cancelled';
  response?: Record<string, unknown>;
  error?: { code: string; message: string };
  usageEvent?: Record<string, unknown>;
  at: Date;
}

/** The states a line may still change from. */
const OPEN_STATES = ['pending', 'running'];
/** The statuses in which a batch still has work (or its files) to come. */
export const ACTIVE_STATUSES = ['validating', 'in_progress', 'finalizing', 'cancelling'];

/** Lines are written this many per statement, under PostgreSQL's parameter limit. */
const INSERT_CHUNK = 1000;

const json = (value: unknown) => (value == null ? null : JSON.stringify(value));

/** A tenant's batches and their lines, in its own database. */
export class BatchesRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  /** The batch and every line in one transaction: a batch is whole or absent. */
  async create(batch: Omit<BatchRow, 'queued'>, lines: readonly NewBatchLine[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('batches')
        .values({
          ...batch,
          metadata: json(batch.metadata),
          allowed_models: json(batch.allowed_models),
        })
        .execute();
      for (let start = 0; start < lines.length; start += INSERT_CHUNK) {
        const chunk = lines.slice(start, start + INSERT_CHUNK);
        await trx
          .insertInto('batch_lines')
          .values(
            chunk.map((line) => ({
              batch_id: batch.id,
              idx: line.idx,
              custom_id: line.customId,
              state: line.error === null ? 'pending' : 'failed',
              request: json(line.request),
              error: json(line.error),
              finished_at: line.error === null ? null : batch.created_at,
            })),
          )
          .execute();
      }
    });
  }

  async get(id: string): Promise<BatchRow | null> {
    const row = await this.db
      .selectFrom('batches')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ?? null;
  }

  /** Newest first, after the batch `after`. */
  async list(options: { limit: number; after?: string }): Promise<BatchRow[]> {
    let query = this.db
      .selectFrom('batches')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(options.limit);
    if (options.after !== undefined) {
      const cursor = await this.get(options.after);
      if (cursor !== null)
        query = query.where((eb) =>
          eb.or([
            eb('created_at', '<', cursor.created_at),
            eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)]),
          ]),
        );
    }
    return query.execute();
  }

  /** How many lines of each batch answered and failed so far. */
  async counts(
    ids: readonly string[],
  ): Promise<Map<string, { completed: number; failed: number }>> {
    const counts = new Map<string, { completed: number; failed: number }>();
    if (ids.length === 0) return counts;
    const rows = await this.db
      .selectFrom('batch_lines')
      .select(['batch_id', 'state', (eb) => eb.fn.countAll<string | number>().as('n')])
      .where('batch_id', 'in', [...ids])
      .where('state', 'in', ['done', 'failed'])
      .groupBy(['batch_id', 'state'])
      .execute();
    for (const row of rows) {
      const entry = counts.get(row.batch_id) ?? { completed: 0, failed: 0 };
      if (row.state === 'done') entry.completed = Number(row.n);
      else entry.failed = Number(row.n);
      counts.set(row.batch_id, entry);
    }
    return counts;
  }

  async markQueued(id: string): Promise<void> {
    await this.db.updateTable('batches').set({ queued: true }).where('id', '=', id).execute();
  }

  /**
   * Moves the batch to `cancelling` and every line not started to `cancelled`; null when the
   * batch had ended already. Lines running now finish and count.
   */
  async cancel(id: string, at: Date): Promise<BatchRow | null> {
    return this.db.transaction().execute(async (trx) => {
      const batch = await trx
        .updateTable('batches')
        .set({ status: 'cancelling', cancelling_at: at })
        .where('id', '=', id)
        .where('status', 'in', ['validating', 'in_progress'])
        .returningAll()
        .executeTakeFirst();
      if (batch === undefined) return null;
      const cancelled = await trx
        .updateTable('batch_lines')
        .set({ state: 'cancelled', finished_at: at })
        .where('batch_id', '=', id)
        .where('state', '=', 'pending')
        .executeTakeFirst();
      return trx
        .updateTable('batches')
        .set((eb) => ({ remaining: eb('remaining', '-', Number(cancelled.numUpdatedRows)) }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }

  async line(id: string, idx: number): Promise<BatchLineRow | null> {
    const row = await this.db
      .selectFrom('batch_lines')
      .selectAll()
      .where('batch_id', '=', id)
      .where('idx', '=', idx)
      .executeTakeFirst();
    return row ?? null;
  }

  /** Marks a line as sent upstream; null when it has ended already (never send it again). */
  async start(id: string, idx: number): Promise<BatchLineRow | null> {
    const row = await this.db
      .updateTable('batch_lines')
      .set((eb) => ({ state: 'running', attempts: eb('attempts', '+', 1) }))
      .where('batch_id', '=', id)
      .where('idx', '=', idx)
      .where('state', 'in', OPEN_STATES)
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  }

  /**
   * Records how a line ended, once: the first ending wins and any later one (a re-claimed
   * line that ran twice) is dropped. Returns whether this one was recorded, and how many
   * lines of the batch are left open.
   */
  async finish(
    id: string,
    idx: number,
    ending: LineEnding,
  ): Promise<{ recorded: boolean; remaining: number }> {
    return this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('batch_lines')
        .set({
          state: ending.state,
          response: json(ending.response),
          error: json(ending.error),
          usage_event: json(ending.usageEvent),
          finished_at: ending.at,
        })
        .where('batch_id', '=', id)
        .where('idx', '=', idx)
        .where('state', 'in', OPEN_STATES)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        const batch = await trx
          .selectFrom('batches')
          .select('remaining')
          .where('id', '=', id)
          .executeTakeFirst();
        return { recorded: false, remaining: batch?.remaining ?? 0 };
      }
      const batch = await trx
        .updateTable('batches')
        .set((eb) => ({ remaining: eb('remaining', '-', 1) }))
        .where('id', '=', id)
        .returning('remaining')
        .executeTakeFirstOrThrow();
      return { recorded: true, remaining: batch.remaining };
    });
  }

  /** Takes the batch to `finalizing` once no line is open; null when not due or taken. */
  async claimFinalize(id: string, at: Date): Promise<BatchRow | null> {
    const row = await this.db
      .updateTable('batches')
      .set({ status: 'finalizing', finalizing_at: at })
      .where('id', '=', id)
      .where('remaining', '<=', 0)
      .where('status', 'in', ['in_progress', 'cancelling'])
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  }

  /** Every line's ending, in file order, for the output and error files. */
  async endings(id: string): Promise<BatchLineRow[]> {
    return this.db
      .selectFrom('batch_lines')
      .selectAll()
      .where('batch_id', '=', id)
      .orderBy('idx')
      .execute();
  }

  /** The batch's last status, with its files. */
  async end(
    id: string,
    update: Pick<BatchRow, 'status' | 'output_file_id' | 'error_file_id'> & { at: Date },
  ): Promise<void> {
    const { at, ...fields } = update;
    const time = { completed: 'completed_at', expired: 'expired_at', cancelled: 'cancelled_at' }[
      update.status
    ] as 'completed_at' | 'expired_at' | 'cancelled_at';
    await this.db
      .updateTable('batches')
      .set({ ...fields, [time]: at })
      .where('id', '=', id)
      .where('status', '=', 'finalizing')
      .execute();
  }

  /** Batches with work or files still to come, oldest first. */
  async active(): Promise<BatchRow[]> {
    return this.db
      .selectFrom('batches')
      .selectAll()
      .where('status', 'in', ACTIVE_STATUSES)
      .orderBy('created_at')
      .execute();
  }

  /** The lines not ended yet, to hand to the queue again. */
  async openLines(id: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom('batch_lines')
      .select('idx')
      .where('batch_id', '=', id)
      .where('state', 'in', OPEN_STATES)
      .orderBy('idx')
      .execute();
    return rows.map((row) => row.idx);
  }
}
