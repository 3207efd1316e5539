import type { FastifyInstance } from 'fastify';

export interface HealthDeps {
  /** False while starting up or shutting down, so load balancers send traffic elsewhere. */
  isReady: () => boolean;
}

const Status = {
  type: 'object',
  properties: { status: { type: 'string' } },
  required: ['status'],
} as const;

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get(
    '/live',
    { schema: { tags: ['Operations'], summary: 'The process is up.', response: { 200: Status } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/ready',
    {
      schema: {
        tags: ['Operations'],
        summary: 'The gateway accepts traffic.',
        response: { 200: Status, 503: Status },
      },
    },
    async (_request, reply) => {
      if (deps.isReady()) return { status: 'ready' };
      return reply.code(503).send({ status: 'not_ready' });
    },
  );
}
