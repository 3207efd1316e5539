import { createHash } from 'node:crypto';
import type { BatchesRepository, BatchRow } from '../../storage/repositories/batches.js';
import type { FileService } from '../files/file-service.js';
import { errorLine, outputLine } from './batch-lines.js';

/** A line's id in the output and error files: the same every time the files are written. */
export function lineRequestId(batchId: string, index: number): string {
  return `batch_req_${createHash('sha256').update(`${batchId}:${index}`).digest('hex').slice(0, 24)}`;
}

/** The id of a batch line's usage record: a line re-claimed and recorded again counts once. */
export function lineUsageId(batchId: string, index: number): string {
  return `evt_batch_${createHash('sha256').update(`usage:${batchId}:${index}`).digest('hex').slice(0, 24)}`;
}

const fileIdOf = (batchId: string, kind: 'output' | 'error') =>
  `file_${createHash('sha256').update(`${kind}:${batchId}`).digest('hex').slice(0, 24)}`;

interface ResponseColumn {
  status_code: number;
  request_id: string;
  body: unknown;
}

/**
 * Writes a finalizing batch's output and error files from its lines' rows, then its last
 * status: `cancelled` when it was cancelled, `expired` when lines ran out of time,
 * `completed` otherwise. Safe to run again after a crash: the files' ids are the batch's.
 */
export async function writeBatchFiles(
  files: FileService,
  repository: BatchesRepository,
  tenantId: string,
  batch: BatchRow,
  now: Date,
): Promise<void> {
  const output: string[] = [];
  const errors: string[] = [];
  let expired = false;
  for (const line of await repository.endings(batch.id)) {
    const id = lineRequestId(batch.id, line.idx);
    if (line.state === 'done' && line.response !== null) {
      const response = line.response as unknown as ResponseColumn;
      output.push(
        outputLine(id, line.custom_id ?? '', {
          statusCode: response.status_code,
          requestId: response.request_id,
          body: response.body,
        }),
      );
    } else if (line.state === 'failed' && line.error !== null) {
      if (line.error.code === 'batch_expired') expired = true;
      errors.push(errorLine(id, { index: line.idx, customId: line.custom_id, ...line.error }));
    }
  }
  const write = async (kind: 'output' | 'error', lines: string[]) => {
    if (lines.length === 0) return null;
    const file = await files.store(tenantId, {
      id: fileIdOf(batch.id, kind),
      filename: `${batch.id}_${kind}.jsonl`,
      purpose: 'batch_output',
      content: Buffer.from(`${lines.join('\n')}\n`),
    });
    return file.id;
  };
  const status = batch.cancelling_at !== null ? 'cancelled' : expired ? 'expired' : 'completed';
  await repository.end(batch.id, {
    status,
    output_file_id: await write('output', output),
    error_file_id: await write('error', errors),
    at: now,
  });
}
