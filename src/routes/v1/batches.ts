import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { refuseNul } from '../../plugins/nul-guard.js';
import { authorize } from '../../services/access/permissions.js';
import type { TenantPrincipal } from '../../services/keys/key-service.js';
import { cursorList } from '../cursor-list.js';
import {
  BatchIdParams,
  batchResponses,
  CreateBatchBody,
  ListBatchesQuery,
  listBatchesResponses,
} from './batches-schemas.js';
import type { V1Deps } from './deps.js';

/** Batches belong to a tenant: a caller without a tenant key has none. */
function tenantOf(request: FastifyRequest, id?: string): TenantPrincipal {
  const principal = request.principal;
  if (principal?.kind === 'tenant') return principal;
  if (id === undefined) throw new GatewayError('permission_denied');
  throw new GatewayError('batch_not_found', {
    message: `No such Batch object: ${id}`,
    param: 'batch_id',
  });
}

/**
 * OpenAI's Batch API: a batch runs the lines of an uploaded file in the workers, within its
 * 24-hour window, and leaves its answers and errors as files. Registered inside the OpenAI
 * scope: the same keys, the same error shape.
 */
export const batchesRoutes: FastifyPluginAsyncTypebox<V1Deps> = async (app, deps) => {
  const tags = ['Batches'];
  refuseNul(app);
  // A batch sends prompts and reads answers: it takes what sending them does.
  app.addHook('onRequest', async (request) => {
    if (request.principal) authorize(request.principal, 'inference');
  });

  app.post(
    '/batches',
    {
      schema: {
        operationId: 'createBatch',
        tags,
        summary: 'Create a batch from an uploaded file of requests.',
        body: CreateBatchBody,
        response: batchResponses,
      },
    },
    async (request) => deps.batches.create(tenantOf(request), request.body),
  );

  app.get(
    '/batches',
    {
      schema: {
        operationId: 'listBatches',
        tags,
        summary: "List the tenant's batches, newest first.",
        querystring: ListBatchesQuery,
        response: listBatchesResponses,
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? '20');
      const { tenantId } = tenantOf(request);
      const list = await deps.batches.list(tenantId, { limit, after: request.query.after });
      return cursorList(list.data, list.hasMore);
    },
  );

  app.get(
    '/batches/:batch_id',
    {
      schema: {
        operationId: 'retrieveBatch',
        tags,
        summary: 'Retrieve a batch.',
        params: BatchIdParams,
        response: batchResponses,
      },
    },
    async (request) => {
      const id = request.params.batch_id;
      return deps.batches.get(tenantOf(request, id).tenantId, id);
    },
  );

  app.post(
    '/batches/:batch_id/cancel',
    {
      schema: {
        operationId: 'cancelBatch',
        tags,
        summary: 'Cancel a batch: no new lines start; it ends with what ran.',
        params: BatchIdParams,
        response: batchResponses,
      },
    },
    async (request) => {
      const id = request.params.batch_id;
      return deps.batches.cancel(tenantOf(request, id).tenantId, id);
    },
  );
};
