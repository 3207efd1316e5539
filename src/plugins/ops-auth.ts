import type { FastifyInstance, onRequestHookHandler, RouteOptions } from 'fastify';
import type { OpsAuth } from '../config/env.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Authenticator } from '../services/keys/authenticator.js';

/**
 * The operations endpoints that tell about the deployment: metrics (tenants' traffic, model
 * names), the OpenAPI document and Swagger UI (whose own copy is at /docs/json). The health
 * checks stay open: load balancers and orchestrators call them without a key.
 */
const PROTECTED = [/^\/metrics$/, /^\/openapi\.json$/, /^\/docs(\/|$)/];

export const isOpsRoute = (url: string) => PROTECTED.some((pattern) => pattern.test(url));

/**
 * With OPS_AUTH=platform_key, the operations endpoints answer only a platform admin key:
 * 401 without a valid key, 403 for a tenant's key. The hook is attached to those routes
 * alone, when they are declared, so no other request pays for the check; this must be
 * registered before them.
 */
export function registerOpsAuth(
  app: FastifyInstance,
  mode: OpsAuth,
  authenticator: Authenticator,
): void {
  if (mode === 'none') return;
  const requirePlatformKey: onRequestHookHandler = async (request) => {
    const principal = await authenticator.authenticate(request.headers.authorization, request.ip);
    if (principal.kind !== 'platform')
      throw new GatewayError('permission_denied', {
        message: 'The operations endpoints need a platform admin key.',
      });
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!isOpsRoute(route.url)) return;
    const hooks = route.onRequest;
    route.onRequest =
      hooks === undefined ? requirePlatformKey : [requirePlatformKey, ...[hooks].flat()];
  });
}
