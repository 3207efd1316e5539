import { Type } from '@sinclair/typebox';
import { CursorListOf } from '../cursor-list.js';
import { ErrorResponse } from './schemas.js';

/** The Batch API's schemas; the endpoint and window are checked by the service, with a param. */
export const CreateBatchBody = Type.Object({
  input_file_id: Type.String({
    minLength: 1,
    description: 'A file uploaded with purpose `batch`: JSONL, one request per line.',
  }),
  endpoint: Type.String({
    description: '`/v1/chat/completions`, `/v1/embeddings` or `/v1/responses`.',
  }),
  completion_window: Type.String({ description: 'Only `24h`.' }),
  metadata: Type.Optional(
    Type.Union([
      Type.Record(Type.String(), Type.String(), {
        description: 'Up to 16 pairs; keys up to 64, values up to 512 characters.',
      }),
      Type.Null(),
    ]),
  ),
});

export const BatchIdParams = Type.Object({ batch_id: Type.String({ minLength: 1 }) });

export const ListBatchesQuery = Type.Object({
  // Query strings arrive as text and the gateway never coerces types: the number is a pattern.
  limit: Type.Optional(
    Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100, default 20.' }),
  ),
  after: Type.Optional(Type.String({ description: 'A batch id: list the batches after it.' })),
});

const Time = Type.Optional(Type.Integer());

export const BatchObject = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('batch'),
    endpoint: Type.String(),
    input_file_id: Type.String(),
    completion_window: Type.String(),
    status: Type.Union(
      [
        'validating',
        'failed',
        'in_progress',
        'finalizing',
        'completed',
        'expired',
        'cancelling',
        'cancelled',
      ].map((status) => Type.Literal(status)),
    ),
    output_file_id: Type.Optional(Type.String()),
    error_file_id: Type.Optional(Type.String()),
    created_at: Type.Integer(),
    in_progress_at: Time,
    expires_at: Type.Integer(),
    finalizing_at: Time,
    completed_at: Time,
    failed_at: Time,
    expired_at: Time,
    cancelling_at: Time,
    cancelled_at: Time,
    request_counts: Type.Object({
      total: Type.Integer(),
      completed: Type.Integer(),
      failed: Type.Integer(),
    }),
    metadata: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
  },
  { description: "OpenAI's `Batch`: files and times the batch does not have yet are absent." },
);

const BatchList = CursorListOf(BatchObject);

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse };

export const batchResponses = { 200: BatchObject, ...errors };
export const listBatchesResponses = { 200: BatchList, ...errors };
