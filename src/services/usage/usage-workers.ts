import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { UsageQueue } from './queue.js';
import type { UsageRecords } from './usage-records.js';
import { UsageWorker, type UsageWorkerLog } from './usage-worker.js';

export interface UsageWorkersOptions {
  queue: UsageQueue;
  records: UsageRecords;
  count: number;
  log: UsageWorkerLog;
  onWritten?: (rows: number) => void;
}

export interface RunningWorkers {
  /**
   * Stops reading; with `drain`, first writes every entry still queued (the in-process
   * queue, whose entries would not outlive the process).
   */
  stop(options?: { drain?: boolean }): Promise<void>;
}

/** Unique per worker and start, and says where it runs when an operator lists consumers. */
export function consumerName(index: number): string {
  return `${hostname()}:${process.pid}:${index}:${randomBytes(3).toString('hex')}`;
}

export function startUsageWorkers(options: UsageWorkersOptions): RunningWorkers {
  const workers = Array.from(
    { length: options.count },
    (_, index) =>
      new UsageWorker({
        queue: options.queue,
        records: options.records,
        consumer: consumerName(index),
        log: options.log,
        onWritten: options.onWritten,
      }),
  );
  for (const worker of workers) worker.start();
  return {
    stop: async ({ drain = false } = {}) => {
      await Promise.all(workers.map((worker) => worker.stop()));
      if (drain && workers[0] !== undefined) await workers[0].drain();
    },
  };
}
