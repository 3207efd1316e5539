import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { listAudit } from '../../services/audit/audit-log.js';
import type { Services } from '../../services/services.js';
import { ErrorResponse } from '../v1/schemas.js';
import { tenantOf } from './tenant-scope.js';

// Query strings arrive as text and the gateway never coerces types, so the number is a pattern.
const Query = Type.Object(
  {
    limit: Type.Optional(
      Type.String({ pattern: '^(1000|[1-9][0-9]{0,2})$', description: '1 to 1000' }),
    ),
  },
  { additionalProperties: false },
);

/** /admin/v1/tenants/{tenant}/audit-logs: the newest entries of the tenant's audit log. */
export async function auditLogRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get(
    '/',
    {
      config: { action: 'audit:read' },
      schema: {
        tags: ['Audit logs'],
        summary: "The newest entries of the tenant's audit log.",
        params: Type.Object({ tenant: Type.String() }),
        querystring: Query,
        response: { '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request) => {
      const tenant = tenantOf(request);
      const limit = Number((request.query as { limit?: string }).limit ?? '100');
      const entries = await listAudit(
        services.tenants.database(tenant) as Kysely<unknown>,
        'audit_log',
        limit,
      );
      return {
        object: 'list',
        data: entries.map(({ at, ...entry }) => ({
          object: 'audit_log',
          ...entry,
          at: at.toISOString(),
        })),
      };
    },
  );
}
