import type { Logger } from 'pino';
import { BatchesRepository } from '../../storage/repositories/batches.js';
import type { FileService } from '../files/file-service.js';
import { writeBatchFiles } from './batch-files.js';
import type { BatchQueue } from './batch-queue.js';
import { type BatchRunnerOptions, finalizeBatch } from './batch-runner.js';

export interface BatchSweeperOptions {
  tenantIds: () => Promise<string[]>;
  tenant: BatchRunnerOptions['tenant'];
  files: FileService;
  queue: BatchQueue;
  /** A batch left `finalizing` this long is finalized again (its finalizer died). */
  staleMs: number;
  intervalMs: number;
  now: () => Date;
  log: Logger;
}

/**
 * What no queued line would finish: batches whose lines were never handed to the queue (the
 * creating process died after the batch was stored, or the in-process queue was lost with
 * its process) and batches whose finalizer died. Runs at start, then now and then.
 */
export class BatchSweeper {
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;

  constructor(private readonly options: BatchSweeperOptions) {}

  /** The first sweep; an in-process queue starts empty, so every open line is queued again. */
  async start(): Promise<void> {
    await this.sweep(this.options.queue.kind === 'memory');
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep(false).finally(() => {
        this.sweeping = null;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.sweeping;
  }

  async sweep(requeueAll: boolean): Promise<void> {
    const { log } = this.options;
    let tenantIds: string[];
    try {
      tenantIds = await this.options.tenantIds();
    } catch (error) {
      log.warn({ err: error }, 'listing tenants for batches failed');
      return;
    }
    for (const tenantId of tenantIds) {
      try {
        await this.sweepTenant(tenantId, requeueAll);
      } catch (error) {
        log.warn({ err: error, tenantId }, 'sweeping batches failed');
      }
    }
  }

  private async sweepTenant(tenantId: string, requeueAll: boolean): Promise<void> {
    const { files, queue, now, staleMs } = this.options;
    const tenant = await this.options.tenant(tenantId);
    if (tenant === null) return;
    const repository = new BatchesRepository(tenant.db);
    for (const batch of await repository.active()) {
      if (batch.status === 'finalizing') {
        const since = batch.finalizing_at === null ? 0 : new Date(batch.finalizing_at).getTime();
        if (now().getTime() - since >= staleMs)
          await writeBatchFiles(files, repository, tenantId, batch, now());
        continue;
      }
      if (batch.remaining <= 0) {
        await finalizeBatch(files, repository, tenantId, batch.id, now());
        continue;
      }
      const age = now().getTime() - new Date(batch.created_at).getTime();
      // Another process may be queueing a batch it just created: left to it for a while.
      if (!requeueAll && (batch.queued || age < staleMs)) continue;
      const open = await repository.openLines(batch.id);
      await queue.publish(open.map((index) => ({ tenantId, batchId: batch.id, index })));
      await repository.markQueued(batch.id);
    }
  }
}
