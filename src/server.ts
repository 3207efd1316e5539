import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { buildApp } from './app.js';
import { compose, type Root } from './composition/root.js';
import { bootstrapDefaultTenant } from './composition/services.js';
import type { AppConfig } from './config/load.js';
import { connectionsOf } from './plugins/connections.js';

export interface StartOptions {
  /** Where log lines go (stdout by default). */
  logDestination?: DestinationStream;
}

/** Secrets made on the first start, to show once; null when not made now. */
export interface FirstStart {
  /** Null as well when BOOTSTRAP_ADMIN_KEY named it: the operator has it already. */
  platformAdminKey: string | null;
  /** The embedded default's `default` tenant owner key, so the quickstart can call /v1. */
  defaultTenantKey: string | null;
}

export interface Started {
  app: FastifyInstance;
  root: Root;
  firstStart: FirstStart;
}

async function firstStart(root: Root): Promise<FirstStart> {
  const given = root.config.env.bootstrapAdminKey;
  const admin = await root.services.platformKeys.bootstrap(given ?? undefined);
  if (admin === null) return { platformAdminKey: null, defaultTenantKey: null };
  const embedded = root.config.env.databaseUrl === null;
  return {
    platformAdminKey: given === null ? admin.secret : null,
    defaultTenantKey: embedded ? await bootstrapDefaultTenant(root.services) : null,
  };
}

/** Composes the process, migrates every tenant, starts the background work and listens. */
export async function startServer(config: AppConfig, options: StartOptions = {}): Promise<Started> {
  const root = await compose(config, { role: 'serve', logDestination: options.logDestination });
  let app: FastifyInstance | null = null;
  try {
    app = await buildApp(root);
    const { log } = root;
    // An upgrade may bring tenant migrations: every tenant database is brought up to date
    // before the first request can need the new schema. Instances starting together take
    // turns on each database's migration lock.
    await root.services.tenants.migrateAll((done, total, tenant, applied) => {
      if (applied.length > 0) log.info({ tenantId: tenant.id, applied }, 'tenant migrated');
      if (done === total || done % 100 === 0) log.info({ done, total }, 'tenant migrations');
    });
    await root.startBackground();
    const shown = await firstStart(root);
    await app.listen({ host: config.env.host, port: config.env.port });
    return { app, root, firstStart: shown };
  } catch (error) {
    // Closing the app closes the root (its onClose hook); without an app, the root itself.
    await (app === null ? root.close() : app.close()).catch(() => {});
    throw error;
  }
}

/**
 * Stops accepting connections, lets in-flight requests and streams finish, and after the
 * grace period cuts what is left (which aborts those upstream calls).
 */
export async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<void> {
  const connections = connectionsOf(app.server);
  const deadline = setTimeout(() => {
    app.log.warn({ graceMs }, 'shutdown grace period over; closing open connections');
    connections.closeAll();
  }, graceMs);
  deadline.unref();
  // server.close() reaps idle keep-alive connections only once; a connection whose response
  // ends during the drain would otherwise stay open, and hold the close, until its timeout.
  // An HTTP/2 session is told to go away: its open streams finish, new ones go elsewhere.
  const reaper = setInterval(() => connections.closeIdle(), 100);
  reaper.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(deadline);
    clearInterval(reaper);
  }
}
