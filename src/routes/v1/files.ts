import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { refuseNul } from '../../plugins/nul-guard.js';
import { authorize } from '../../services/access/permissions.js';
import { cursorList } from '../cursor-list.js';
import type { V1Deps } from './deps.js';
import {
  deleteFileResponses,
  FileIdParams,
  fileContentResponses,
  fileResponses,
  ListFilesQuery,
  listFilesResponses,
  UploadBody,
} from './files-schemas.js';

/** Room for the multipart framing and the purpose field around the file itself. */
const FORM_OVERHEAD_BYTES = 64 * 1024;

/** Files belong to a tenant: a caller without a tenant key has none. */
function tenantOf(request: FastifyRequest, id?: string): string {
  const principal = request.principal;
  if (principal?.kind === 'tenant') return principal.tenantId;
  if (id === undefined) throw new GatewayError('permission_denied');
  throw new GatewayError('file_not_found', {
    message: `No such File object: ${id}`,
    param: 'file_id',
  });
}

/** The upload's fields, refused with the field's name when one is missing or of the wrong kind. */
function uploadOf(form: FormData): { purpose: string; file: File } {
  const purpose = form.get('purpose');
  const file = form.get('file');
  if (typeof purpose !== 'string')
    throw new GatewayError('invalid_request', {
      message: "Missing required parameter: 'purpose'.",
      param: 'purpose',
    });
  if (file === null || typeof file === 'string')
    throw new GatewayError('invalid_request', {
      message: "Missing required parameter: 'file' (a file part).",
      param: 'file',
    });
  return { purpose, file };
}

/**
 * OpenAI's Files API. Uploads are multipart/form-data: the body is read whole up to the file
 * limit plus the form's framing (a larger one is refused while it arrives, never held), then
 * parsed by the platform's own FormData parser. Registered inside the OpenAI scope.
 */
export const filesRoutes: FastifyPluginAsyncTypebox<V1Deps> = async (app, deps) => {
  const tags = ['Files'];
  // Ids, filters and cursors here are queried as text, which cannot hold NUL (a 500 else).
  refuseNul(app);
  // Files hold prompts: reading them takes what sending them does, not just models:read.
  // On request (after the key's check), so a refused upload's body is never read in.
  app.addHook('onRequest', async (request) => {
    if (request.principal) authorize(request.principal, 'inference');
  });
  app.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'buffer', bodyLimit: deps.filesMaxBytes + FORM_OVERHEAD_BYTES },
    (request, body, done) => {
      const type = request.headers['content-type'] ?? '';
      new Response(body as Buffer, { headers: { 'content-type': type } })
        .formData()
        .then((form) => done(null, form))
        .catch(() =>
          done(
            new GatewayError('invalid_request', {
              message: 'The multipart/form-data body could not be parsed.',
            }),
          ),
        );
    },
  );

  app.post(
    '/files',
    {
      bodyLimit: deps.filesMaxBytes + FORM_OVERHEAD_BYTES,
      // The FormData is checked by uploadOf; the schema documents the form.
      validatorCompiler: () => () => true,
      schema: {
        operationId: 'createFile',
        tags,
        summary: 'Upload a file (multipart/form-data: `file` and `purpose`, which is `batch`).',
        consumes: ['multipart/form-data'],
        body: UploadBody,
        response: fileResponses,
      },
    },
    async (request) => {
      const tenantId = tenantOf(request);
      if (!(request.body instanceof FormData))
        throw new GatewayError('invalid_request', {
          message: 'Send the file as multipart/form-data.',
        });
      const { purpose, file } = uploadOf(request.body);
      return deps.files.create(tenantId, {
        purpose,
        filename: file.name,
        content: new Uint8Array(await file.arrayBuffer()),
      });
    },
  );

  app.get(
    '/files',
    {
      schema: {
        operationId: 'listFiles',
        tags,
        summary: "List the tenant's files, newest first.",
        querystring: ListFilesQuery,
        response: listFilesResponses,
      },
    },
    async (request) => {
      const { order = 'desc', after, purpose } = request.query;
      const limit = Number(request.query.limit ?? '10000');
      const list = await deps.files.list(tenantOf(request), { limit, order, after, purpose });
      return cursorList(list.data, list.hasMore);
    },
  );

  app.get(
    '/files/:file_id',
    {
      schema: {
        operationId: 'retrieveFile',
        tags,
        summary: 'Retrieve a file.',
        params: FileIdParams,
        response: fileResponses,
      },
    },
    async (request) => {
      const id = request.params.file_id;
      return deps.files.get(tenantOf(request, id), id);
    },
  );

  app.get(
    '/files/:file_id/content',
    {
      schema: {
        operationId: 'downloadFile',
        tags,
        summary: "Retrieve a file's content.",
        params: FileIdParams,
        response: fileContentResponses,
      },
    },
    async (request, reply) => {
      const id = request.params.file_id;
      const content = await deps.files.content(tenantOf(request, id), id);
      return reply.type('application/octet-stream').send(content);
    },
  );

  app.delete(
    '/files/:file_id',
    {
      schema: {
        operationId: 'deleteFile',
        tags,
        summary: 'Delete a file.',
        params: FileIdParams,
        response: deleteFileResponses,
      },
    },
    async (request) => {
      const id = request.params.file_id;
      await deps.files.delete(tenantOf(request, id), id);
      return { id, object: 'file' as const, deleted: true as const };
    },
  );
};
