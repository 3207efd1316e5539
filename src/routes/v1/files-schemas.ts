import { Type } from '@sinclair/typebox';
import { UPLOAD_PURPOSES } from '../../services/files/file-service.js';
import { CursorListOf } from '../cursor-list.js';
import { ErrorResponse } from './schemas.js';

/**
 * The Files API's schemas. The upload's body is multipart/form-data, parsed into a FormData
 * (see files.ts) and checked there: its schema only describes it in the OpenAPI document.
 */
export const UploadBody = Type.Unsafe<FormData>({
  type: 'object',
  required: ['file', 'purpose'],
  properties: {
    file: { type: 'string', format: 'binary', description: 'The file: JSONL for `batch`.' },
    purpose: { type: 'string', enum: [...UPLOAD_PURPOSES] },
  },
});

export const FileIdParams = Type.Object({ file_id: Type.String({ minLength: 1 }) });

export const ListFilesQuery = Type.Object({
  // Query strings arrive as text and the gateway never coerces types: the number is a pattern.
  limit: Type.Optional(
    Type.String({
      pattern: '^(10000|[1-9][0-9]{0,3})$',
      description: '1 to 10000, default 10000.',
    }),
  ),
  order: Type.Optional(
    Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'Default desc.' }),
  ),
  after: Type.Optional(Type.String({ description: 'A file id: list the files after it.' })),
  purpose: Type.Optional(Type.String()),
});

export const FileObject = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('file'),
    bytes: Type.Integer(),
    created_at: Type.Integer(),
    filename: Type.String(),
    purpose: Type.String(),
    status: Type.Literal('processed'),
  },
  { description: "OpenAI's `OpenAIFile`." },
);

const FileList = CursorListOf(FileObject);

const DeletedFile = Type.Object({
  id: Type.String(),
  object: Type.Literal('file'),
  deleted: Type.Literal(true),
});

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse };

export const fileResponses = { 200: FileObject, ...errors };
export const listFilesResponses = { 200: FileList, ...errors };
export const deleteFileResponses = { 200: DeletedFile, ...errors };
export const fileContentResponses = {
  200: { description: "The file's bytes, as uploaded.", type: 'string', format: 'binary' },
  ...errors,
};
