import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { buildApp } from './app.js';
import type { AppConfig } from './config/load.js';
import { loadEncoder } from './services/inference/estimate.js';
import { bootstrapDefaultTenant, buildServices } from './services/services.js';
import { openStorage } from './storage/open.js';

export interface StartOptions {
  logger?: FastifyServerOptions['logger'];
}

export interface Started {
  app: FastifyInstance;
  /** The key made on an embedded first start, to show once; null otherwise. */
  bootstrapKey: string | null;
}

/** Opens storage, builds the app and listens on the configured host and port. */
export async function startServer(config: AppConfig, options: StartOptions = {}): Promise<Started> {
  const storage = await openStorage(config.env);
  try {
    const services = buildServices(config.env, storage);
    const app = await buildApp({
      config,
      logger: options.logger,
      services,
    });
    app.addHook('onClose', async () => {
      await services.keyUsage.close();
      await services.bus.close();
      await storage.close();
    });
    const bootstrapKey =
      config.env.databaseUrl === null ? await bootstrapDefaultTenant(services) : null;
    // Upstreams that report no usage need the tokenizer; load it now rather than on a request.
    if (config.providers.some((provider) => provider.type !== 'mock')) await loadEncoder();
    await app.listen({ host: config.env.host, port: config.env.port });
    return { app, bootstrapKey };
  } catch (error) {
    await storage.close().catch(() => {});
    throw error;
  }
}

/**
 * Stops accepting connections, lets in-flight requests and streams finish, and after the
 * grace period cuts what is left (which aborts those upstream calls).
 */
export async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<void> {
  const deadline = setTimeout(() => {
    app.log.warn({ graceMs }, 'shutdown grace period over; closing open connections');
    app.server.closeAllConnections();
  }, graceMs);
  deadline.unref();
  // server.close() reaps idle keep-alive connections only once; a connection whose response
  // ends during the drain would otherwise stay open, and hold the close, until its timeout.
  const reaper = setInterval(() => app.server.closeIdleConnections(), 100);
  reaper.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(deadline);
    clearInterval(reaper);
  }
}
