import type { FastifyInstance } from 'fastify';
import type { DeploymentSnapshot } from '../../services/routing/deployment-state.js';

export interface HealthDeps {
  /** False while starting up or shutting down, so load balancers send traffic elsewhere. */
  isReady: () => boolean;
  /** Each deployment's circuit, load and latency, as this instance sees them. */
  deployments: () => DeploymentSnapshot[];
}

const Status = {
  type: 'object',
  properties: { status: { type: 'string' } },
  required: ['status'],
} as const;

const Deployment = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    deployment: { type: 'string' },
    provider: { type: 'string' },
    circuit: { type: 'string', enum: ['closed', 'half_open', 'open'] },
    in_flight: { type: 'integer' },
    latency_ms: { type: ['number', 'null'] },
    cooling_down_until: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['model', 'deployment', 'provider', 'circuit', 'in_flight', 'latency_ms'],
} as const;

const Ready = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    deployments: { type: 'array', items: Deployment },
  },
  required: ['status', 'deployments'],
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
        summary: 'The gateway accepts traffic; with the state of every model deployment.',
        description:
          'Ready does not depend on the deployments: a deployment whose circuit is open is routed around, and the details say which ones are.',
        response: { 200: Ready, 503: Ready },
      },
    },
    async (_request, reply) => {
      const deployments = deps.deployments();
      if (deps.isReady()) return { status: 'ready', deployments };
      return reply.code(503).send({ status: 'not_ready', deployments });
    },
  );
}
