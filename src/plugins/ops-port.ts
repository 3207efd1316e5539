import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { isOpsRoute } from './ops-auth.js';
import type { RequestTimeouts } from './request-timeouts.js';

export interface OpsPortOptions {
  port: number;
  host: string;
  timeouts: RequestTimeouts;
}

const isHealthRoute = (url: string) => url.startsWith('/health/');

function notFound(request: FastifyRequest): GatewayError {
  return new GatewayError('not_found', {
    message: `Unknown request URL: ${request.method} ${request.url.split('?')[0]}.`,
  });
}

/**
 * Serves the operations endpoints (metrics, the OpenAPI document, Swagger UI) on a port of
 * their own, for a network only operators and Prometheus reach, and no longer on the main
 * one. The health checks answer on both: load balancers probe the port they send traffic to.
 * The second server hands its requests to the same app, so hooks, metrics and logs are one;
 * it listens once the app is ready (a port in use fails the start) and closes with it.
 */
export function registerOpsPort(app: FastifyInstance, options: OpsPortOptions): void {
  const viaOpsPort = new WeakSet<IncomingMessage>();
  const server = createServer(
    { requestTimeout: options.timeouts.bodyMs, headersTimeout: options.timeouts.headersMs },
    (req, res) => {
      viaOpsPort.add(req);
      app.routing(req, res);
    },
  );
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined || isHealthRoute(route)) return;
    if (isOpsRoute(route) !== viaOpsPort.has(request.raw)) throw notFound(request);
  });
  app.addHook('onReady', async () => {
    server.listen(options.port, options.host);
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => Promise.reject(error)),
    ]);
    const { port } = server.address() as AddressInfo;
    app.log.info({ host: options.host, port }, 'operations endpoints listening');
  });
  app.addHook('onClose', async () => {
    if (!server.listening) return;
    const closed = once(server, 'close');
    server.close();
    await closed;
  });
}
