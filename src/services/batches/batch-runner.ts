import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { BatchesRepository } from '../../storage/repositories/batches.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import type { FileService } from '../files/file-service.js';
import { writeBatchFiles } from './batch-files.js';
import type { BatchJob, BatchQueue, TakenJob } from './batch-queue.js';
import { type LineRunnerDeps, runLine, usageFromRow } from './line-runner.js';

export interface BatchRunnerOptions extends Omit<LineRunnerDeps, 'pace'> {
  queue: BatchQueue;
  /** The tenant's database and slug; null when the tenant is gone. */
  tenant: (tenantId: string) => Promise<{ slug: string; db: Kysely<TenantSchema> } | null>;
  files: FileService;
  /** Lines run at once by this process. */
  concurrency: number;
  /** Lines started per second by this process; 0: no pace. */
  linesPerSecond: number;
  consumer: string;
  /** The queue's claim time: the jobs running here are renewed three times within it. */
  claimIdleMs: number;
  log: Logger;
}

/** How long one read waits for jobs before the loop looks at its stop flag again. */
const READ_BLOCK_MS = 1000;
const ERROR_PAUSE_MS = 1000;

/** Spaces calls `1000 / perSecond` ms apart, across this process's lines. */
function pacer(perSecond: number): () => Promise<void> {
  if (perSecond <= 0) return async () => {};
  const gapMs = 1000 / perSecond;
  let next = 0;
  return async () => {
    const now = Date.now();
    const at = Math.max(now, next);
    next = at + gapMs;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  };
}

/**
 * Runs batch lines from the queue, `concurrency` at a time and at the configured pace, so
 * interactive traffic keeps its room. Each job is acknowledged only once its line's ending
 * is recorded in the tenant's database; a runner killed mid-line leaves the job to be
 * re-claimed, and the line's row decides whether it is sent again.
 */
export class BatchRunner {
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** The entries of the jobs running, renewed so no live runner's job is claimed. */
  private readonly held = new Set<string>();
  private renewal: NodeJS.Timeout | null = null;
  private readonly pace: () => Promise<void>;

  constructor(private readonly options: BatchRunnerOptions) {
    this.pace = pacer(options.linesPerSecond);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    const { queue, consumer, claimIdleMs, log } = this.options;
    this.renewal = setInterval(() => {
      queue
        .touch(consumer, [...this.held])
        .catch((error: unknown) => log.warn({ err: error }, 'renewing batch lines failed'));
    }, claimIdleMs / 3);
    this.renewal.unref();
  }

  /** Stops taking lines and waits for those running to be recorded. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.renewal !== null) clearInterval(this.renewal);
    // The in-process queue's wait ends at once; a Redis read ends within its block time.
    if (this.options.queue.kind === 'memory') await this.options.queue.close();
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    const { queue, consumer, concurrency, log } = this.options;
    while (this.running) {
      const free = concurrency - this.inFlight.size;
      if (free <= 0) {
        await Promise.race(this.inFlight);
        continue;
      }
      let taken: TakenJob[];
      try {
        taken = await queue.read(consumer, free, READ_BLOCK_MS);
      } catch (error) {
        if (!this.running) return;
        log.warn({ err: error }, 'reading batch lines failed');
        await new Promise((resolve) => setTimeout(resolve, ERROR_PAUSE_MS));
        continue;
      }
      for (const job of taken) {
        const task = this.handle(job).finally(() => this.inFlight.delete(task));
        this.inFlight.add(task);
      }
    }
  }

  private async handle(taken: TakenJob): Promise<void> {
    const { queue, log } = this.options;
    this.held.add(taken.entryId);
    try {
      if (taken.job !== null) await this.runJob(taken.job);
      await queue.ack([taken.entryId]);
    } catch (error) {
      // Left unacknowledged: another read claims it once idle, and its row says what ran.
      log.warn({ err: error, job: taken.job }, 'batch line failed; it will be claimed again');
    } finally {
      this.held.delete(taken.entryId);
    }
  }

  private async runJob(job: BatchJob): Promise<void> {
    const tenant = await this.options.tenant(job.tenantId);
    if (tenant === null) return;
    const repository = new BatchesRepository(tenant.db);
    const batch = await repository.get(job.batchId);
    if (batch === null) return;
    if (batch.status !== 'in_progress' && batch.status !== 'cancelling') {
      // A line recorded by a runner that died before its usage record: written now.
      const line = await repository.line(job.batchId, job.index);
      if (line?.usage_event)
        await this.options.writeUsage(job.tenantId, [usageFromRow(line.usage_event)]);
      return;
    }
    const remaining = await runLine(
      { ...this.options, pace: this.pace },
      { tenantId: job.tenantId, tenantSlug: tenant.slug, repository, batch, index: job.index },
    );
    if (remaining <= 0)
      await finalizeBatch(
        this.options.files,
        repository,
        job.tenantId,
        job.batchId,
        this.options.now(),
      );
  }
}

/** Takes the batch to `finalizing` unless another did, then writes its files and status. */
export async function finalizeBatch(
  files: FileService,
  repository: BatchesRepository,
  tenantId: string,
  batchId: string,
  now: Date,
): Promise<void> {
  const batch = await repository.claimFinalize(batchId, now);
  if (batch === null) return;
  await writeBatchFiles(files, repository, tenantId, batch, now);
}
