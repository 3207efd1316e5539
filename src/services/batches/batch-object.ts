import type { BatchRow } from '../../storage/repositories/batches.js';

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** OpenAI's `batch` object. */
export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id?: string;
  error_file_id?: string;
  created_at: number;
  in_progress_at?: number;
  expires_at: number;
  finalizing_at?: number;
  completed_at?: number;
  failed_at?: number;
  expired_at?: number;
  cancelling_at?: number;
  cancelled_at?: number;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
}

const unix = (at: Date | null): number | null =>
  at === null ? null : Math.floor(new Date(at).getTime() / 1000);

/** OpenAI's shape: a file or a time the batch does not have yet is absent, not null. */
export function batchObject(
  row: BatchRow,
  counts: { completed: number; failed: number } = { completed: 0, failed: 0 },
): BatchObject {
  const optional = {
    output_file_id: row.output_file_id,
    error_file_id: row.error_file_id,
    in_progress_at: unix(row.in_progress_at),
    finalizing_at: unix(row.finalizing_at),
    completed_at: unix(row.completed_at),
    failed_at: unix(row.failed_at),
    expired_at: unix(row.expired_at),
    cancelling_at: unix(row.cancelling_at),
    cancelled_at: unix(row.cancelled_at),
  };
  return {
    id: row.id,
    object: 'batch',
    endpoint: row.endpoint,
    input_file_id: row.input_file_id,
    completion_window: row.completion_window,
    status: row.status as BatchStatus,
    created_at: unix(row.created_at) ?? 0,
    expires_at: unix(row.expires_at) ?? 0,
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== null)),
    request_counts: { total: row.total, ...counts },
    metadata: row.metadata,
  };
}
