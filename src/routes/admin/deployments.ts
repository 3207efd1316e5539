import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { DeploymentStatus } from '../../services/routing/deployment-state.js';
import { errors, ListOf } from './schemas.js';

const Deployment = Type.Object(
  {
    model: Type.String({ description: 'The model name clients ask for.' }),
    deployment: Type.String({ description: "The deployment's id in the config file." }),
    provider: Type.String(),
    circuit_state: Type.Unsafe<DeploymentStatus['circuit_state']>({
      type: 'string',
      enum: ['closed', 'open', 'half_open'],
      description: 'open: requests are routed around it until a trial request succeeds.',
    }),
    in_flight: Type.Integer({ description: 'Requests this instance has running on it now.' }),
    latency_ms_p50: Type.Union([Type.Number(), Type.Null()], {
      description:
        'The median time to the response (to the first chunk for streams) of its latest requests on this instance; null before any.',
    }),
    region: Type.Union([Type.String(), Type.Null()]),
    weight: Type.Number(),
    priority: Type.Number(),
  },
  {
    examples: [
      {
        model: 'gpt-4o',
        deployment: 'gpt-4o-azure-eu',
        provider: 'azure-eu',
        circuit_state: 'closed',
        in_flight: 3,
        latency_ms_p50: 412.5,
        region: 'eu',
        weight: 1,
        priority: 0,
      },
    ],
  },
);

/** /admin/v1/deployments: what this instance's router knows of each deployment. */
export const deploymentRoutes: FastifyPluginAsyncTypebox<{
  deployments: () => DeploymentStatus[];
}> = async (app, { deployments }) => {
  app.get(
    '',
    {
      config: { action: 'deployments:read' },
      schema: {
        tags: ['Deployments'],
        summary:
          "Every model's deployments: circuit state, requests in flight, median latency (platform admins).",
        response: { 200: ListOf(Deployment), ...errors },
      },
    },
    async () => ({ object: 'list' as const, data: deployments() }),
  );
};
