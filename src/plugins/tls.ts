import type { Http2SecureServer, SecureServerOptions } from 'node:http2';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { readTlsMaterial, type TlsFiles } from '../config/tls.js';
import { trackConnections } from './connections.js';

/**
 * How long an idle HTTP/1.1 connection is kept (Fastify's default for its HTTP/1 server,
 * which it does not apply to the HTTP/2 one that carries the HTTP/1.1 fallback).
 */
const HTTP1_KEEP_ALIVE_MS = 72_000;

/**
 * The secure server's options: HTTP/2 by ALPN, HTTP/1.1 for clients that do not offer it.
 * Read at start; a file that went bad since the configuration was checked fails the start.
 */
export function secureServerOptions(files: TlsFiles): SecureServerOptions {
  return { allowHTTP1: true, ...readTlsMaterial(files) };
}

/** What the secure server needs besides Fastify's own setup, before it listens. */
export function prepareSecureServer(server: Http2SecureServer): void {
  (server as Http2SecureServer & { keepAliveTimeout: number }).keepAliveTimeout =
    HTTP1_KEEP_ALIVE_MS;
  trackConnections(server);
}

/**
 * Reads the certificate and key again and uses them for new handshakes; connections that are
 * open keep theirs, so nothing in flight is cut. A file that cannot be used leaves the
 * certificate in use as it is. Returns whether the new one was taken.
 */
export function reloadCertificate(
  server: Http2SecureServer,
  files: TlsFiles,
  log: FastifyBaseLogger,
): boolean {
  try {
    const material = readTlsMaterial(files);
    server.setSecureContext(material);
  } catch (error) {
    log.error(
      { err: error, certFile: files.certFile },
      'TLS certificate not reloaded; the certificate in use stays',
    );
    return false;
  }
  log.info({ certFile: files.certFile }, 'TLS certificate reloaded');
  return true;
}

/**
 * HTTP/2 has no Connection header (Node drops it with a warning): the ones set to close an
 * HTTP/1.1 connection after an error or while draining are taken off its responses.
 */
export function registerHttp2Headers(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    if (request.raw.httpVersionMajor === 2) reply.removeHeader('connection');
  });
}
