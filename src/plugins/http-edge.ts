import type { FastifyInstance } from 'fastify';
import type { EnvConfig } from '../config/env.js';
import type { Authenticator } from '../services/keys/authenticator.js';
import { registerCors } from './cors.js';
import { registerOpsAuth } from './ops-auth.js';
import { registerOpsPort } from './ops-port.js';
import { registerRequestTimeouts } from './request-timeouts.js';
import { registerSecurityHeaders } from './security-headers.js';

/**
 * What every request meets at the HTTP edge, whatever its route: security headers, CORS,
 * the time a client has to send its request, and the key and port of the operations endpoints.
 * Registered before any route, as the ops endpoints' check is attached when they are declared.
 */
export function registerHttpEdge(
  app: FastifyInstance,
  env: EnvConfig,
  authenticator: Authenticator,
): void {
  registerSecurityHeaders(app);
  registerCors(app, env.corsOrigins);
  const timeouts = { bodyMs: env.requestBodyTimeoutMs, headersMs: env.requestHeadersTimeoutMs };
  registerRequestTimeouts(app, timeouts);
  registerOpsAuth(app, env.opsAuth, authenticator);
  if (env.opsPort !== null) registerOpsPort(app, { port: env.opsPort, host: env.host, timeouts });
}
