import type { Kysely } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import { BatchesRepository, type NewBatchLine } from '../../storage/repositories/batches.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import type { FileService } from '../files/file-service.js';
import type { TenantPrincipal } from '../keys/key-service.js';
import { BATCH_ENDPOINTS, type BatchEndpoint, inputLines, parseBatchLine } from './batch-lines.js';
import { type BatchObject, batchObject } from './batch-object.js';
import type { BatchQueue } from './batch-queue.js';

/** OpenAI's limit on the requests of one batch. */
export const MAX_BATCH_LINES = 50_000;
export const COMPLETION_WINDOWS = ['24h'] as const;

export interface CreateBatch {
  input_file_id: string;
  endpoint: string;
  completion_window: string;
  metadata?: Record<string, string> | null;
}

export interface BatchServiceOptions {
  database: (tenantId: string) => Promise<Kysely<TenantSchema>>;
  files: FileService;
  queue: BatchQueue;
  /** How long a batch has to finish (24 hours; shorter in tests). */
  windowMs: number;
  /** The largest request body a line may carry, as a request's (BODY_LIMIT_BYTES). */
  maxLineBytes: number;
  /** Finalizes a batch whose lines all ended (a cancel that left none running). */
  finalize: (tenantId: string, batchId: string) => Promise<void>;
  now?: () => Date;
}

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

const batchNotFound = (id: string) =>
  new GatewayError('batch_not_found', {
    message: `No such Batch object: ${id}`,
    param: 'batch_id',
  });

/**
 * OpenAI's Batch API over a tenant's own database: a batch is checked and stored whole with
 * one row per line, then its lines go to the batch queue for the runners.
 */
export class BatchService {
  constructor(private readonly options: BatchServiceOptions) {}

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  private async repository(tenantId: string) {
    return new BatchesRepository(await this.options.database(tenantId));
  }

  /** Checks the request and its file; bad input creates nothing. */
  async create(principal: TenantPrincipal, input: CreateBatch): Promise<BatchObject> {
    const { tenantId } = principal;
    const endpoint = checkRequest(input);
    const file = await this.options.files.find(tenantId, input.input_file_id);
    if (file === null)
      throw new GatewayError('file_not_found', {
        message: `No such File object: ${input.input_file_id}`,
        param: 'input_file_id',
      });
    if (file.purpose !== 'batch')
      throw invalid(
        `File ${file.id} has purpose '${file.purpose}'; a batch's input needs purpose 'batch'.`,
        'input_file_id',
      );
    const text = (await this.options.files.content(tenantId, file.id)).toString('utf8');
    const lines = this.readLines(text, endpoint);
    const now = this.now();
    const id = newId('batch');
    const open = lines.filter((line) => line.error === null).length;
    const repository = await this.repository(tenantId);
    await repository.create(
      {
        id,
        endpoint,
        input_file_id: file.id,
        completion_window: input.completion_window,
        status: 'in_progress',
        metadata: input.metadata ?? null,
        key_id: principal.keyId,
        user_id: principal.userId,
        allowed_models: principal.allowedModels,
        total: lines.length,
        remaining: open,
        output_file_id: null,
        error_file_id: null,
        created_at: now,
        expires_at: new Date(now.getTime() + this.options.windowMs),
        in_progress_at: now,
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
      },
      lines,
    );
    if (open === 0) await this.options.finalize(tenantId, id);
    else {
      const jobs = lines
        .filter((line) => line.error === null)
        .map((line) => ({ tenantId, batchId: id, index: line.idx }));
      await this.options.queue.publish(jobs);
      await repository.markQueued(id);
    }
    return this.get(tenantId, id);
  }

  /** Each line checked alone: a bad one is an error file entry, never the batch's end. */
  private readLines(text: string, endpoint: BatchEndpoint): NewBatchLine[] {
    const lines: NewBatchLine[] = [];
    const seen = new Set<string>();
    for (const [index, raw] of inputLines(text)) {
      if (lines.length === MAX_BATCH_LINES)
        throw invalid(
          `A batch may hold at most ${MAX_BATCH_LINES} requests; the file has more.`,
          'input_file_id',
        );
      const parsed = parseBatchLine(raw, index, endpoint);
      if (!parsed.ok) {
        const { code, message, customId } = parsed.error;
        lines.push({ idx: index, customId, request: null, error: { code, message } });
        continue;
      }
      const { customId, body } = parsed.line;
      const error = seen.has(customId)
        ? {
            code: 'duplicate_custom_id',
            message: `custom_id '${customId}' is used by an earlier line.`,
          }
        : Buffer.byteLength(raw) > this.options.maxLineBytes
          ? {
              code: 'request_too_large',
              message: `Line ${index + 1} is larger than the request limit.`,
            }
          : null;
      seen.add(customId);
      lines.push({ idx: index, customId, request: error === null ? body : null, error });
    }
    if (lines.length === 0) throw invalid('The input file has no requests.', 'input_file_id');
    return lines;
  }

  async get(tenantId: string, id: string): Promise<BatchObject> {
    const repository = await this.repository(tenantId);
    const row = await repository.get(id);
    if (row === null) throw batchNotFound(id);
    return batchObject(row, (await repository.counts([id])).get(id));
  }

  async list(
    tenantId: string,
    options: { limit: number; after?: string },
  ): Promise<{ data: BatchObject[]; hasMore: boolean }> {
    const repository = await this.repository(tenantId);
    const rows = await repository.list({ ...options, limit: options.limit + 1 });
    const page = rows.slice(0, options.limit);
    const counts = await repository.counts(page.map((row) => row.id));
    return {
      data: page.map((row) => batchObject(row, counts.get(row.id))),
      hasMore: rows.length > options.limit,
    };
  }

  /** Stops new lines; the batch ends `cancelled` with what ran, once running lines end. */
  async cancel(tenantId: string, id: string): Promise<BatchObject> {
    const repository = await this.repository(tenantId);
    const existing = await repository.get(id);
    if (existing === null) throw batchNotFound(id);
    const cancelled = await repository.cancel(id, this.now());
    if (cancelled === null) {
      if (existing.status === 'cancelling' || existing.status === 'finalizing')
        return this.get(tenantId, id);
      throw new GatewayError('batch_not_cancellable', {
        message: `Cannot cancel a batch with status '${existing.status}'.`,
        param: 'batch_id',
      });
    }
    if (cancelled.remaining <= 0) await this.options.finalize(tenantId, id);
    return this.get(tenantId, id);
  }
}

function checkRequest(input: CreateBatch): BatchEndpoint {
  if (!Object.hasOwn(BATCH_ENDPOINTS, input.endpoint))
    throw invalid(
      `endpoint must be one of ${Object.keys(BATCH_ENDPOINTS).join(', ')}.`,
      'endpoint',
    );
  if (!(COMPLETION_WINDOWS as readonly string[]).includes(input.completion_window))
    throw invalid("completion_window must be '24h'.", 'completion_window');
  const metadata = input.metadata ?? {};
  const entries = Object.entries(metadata);
  if (
    entries.length > 16 ||
    entries.some(
      ([key, value]) => key.length > 64 || typeof value !== 'string' || value.length > 512,
    )
  )
    throw invalid(
      'metadata holds at most 16 pairs, keys up to 64 and string values up to 512 characters.',
      'metadata',
    );
  return input.endpoint as BatchEndpoint;
}
