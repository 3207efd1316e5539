import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError } from '../errors/gateway-error.js';
import { toClientError } from '../plugins/errors.js';
import { type Authenticator, CachingAuthenticator } from '../services/keys/authenticator.js';
import { FailureThrottle } from '../services/keys/failure-throttle.js';
import type { Root } from './root.js';

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function sendError(res: ServerResponse, error: GatewayError): void {
  res.writeHead(error.status, { ...error.headers, 'content-type': 'application/json' });
  res.end(JSON.stringify(error.toBody()));
}

async function answer(
  root: Root,
  authenticator: Authenticator | null,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/health/live')
    return send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
  if (req.method !== 'GET' || path !== '/metrics')
    throw new GatewayError('not_found', {
      message: `Unknown request URL: ${req.method} ${path}.`,
    });
  if (authenticator !== null) {
    const principal = await authenticator.authenticate(
      req.headers.authorization,
      req.socket.remoteAddress ?? '',
    );
    if (principal.kind !== 'platform')
      throw new GatewayError('permission_denied', {
        message: 'The operations endpoints need a platform admin key.',
      });
  }
  send(res, 200, root.metrics.contentType, await root.metrics.metrics());
}

/**
 * The worker's operations port (OPS_PORT): `GET /metrics` and `GET /health/live`, nothing
 * else, since a worker answers no API. OPS_AUTH applies as on the gateway. The gateway's own
 * operations port is a second server on its Fastify app instead (plugins/ops-port.ts).
 */
export async function startOpsServer(
  root: Root,
  options: { port: number; host: string },
): Promise<OpsServer> {
  const { env } = root.config;
  const authenticator =
    env.opsAuth === 'platform_key'
      ? new CachingAuthenticator(root.services.keys, root.services.bus, {
          throttle: new FailureThrottle(env.authFailuresPerMinute),
        })
      : null;
  const server = createServer((req, res) => {
    answer(root, authenticator, req, res).catch((error: unknown) => {
      const client = toClientError(error);
      if (client.status >= 500) root.log.error({ err: error }, 'operations request failed');
      sendError(res, client);
    });
  });
  server.listen(options.port, options.host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => Promise.reject(error)),
  ]);
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      server.closeAllConnections();
      const closed = once(server, 'close');
      server.close();
      await closed;
    },
  };
}
