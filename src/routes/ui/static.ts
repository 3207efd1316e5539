import { stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';

/**
 * Only our own files: no inline script or style, no framing, no form posting elsewhere. The
 * web app is built to need nothing more (its CSS comes from files, styles set from JS only).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const HEADERS = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Vite names the files under assets/ by their content hash: one name, one content, forever. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** Every response of the scope (the panel, its API, its errors) carries the panel's headers. */
export function panelHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(HEADERS);
  });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The built web app under /ui/: a file that exists is sent as it is; any other path is a
 * client-side route and gets index.html. Without index.html the panel is not built: a 404
 * that says how to build it.
 */
export async function staticRoutes(app: FastifyInstance, { dir }: { dir: string }) {
  const root = normalize(dir);
  await app.register(fastifyStatic, { root, serve: false, cacheControl: false });
  const schema = { hide: true };

  app.get('/ui', { schema }, async (_request, reply) => reply.redirect('/ui/'));

  app.get('/ui/*', { schema }, async (request, reply) => {
    const wanted = (request.params as { '*': string })['*'];
    const file = normalize(join(root, wanted));
    // normalize() resolves `..`: a path that leaves the directory is not ours to send.
    const inside = file.startsWith(root.endsWith(sep) ? root : root + sep);
    if (wanted !== '' && inside && (await isFile(file))) {
      if (wanted.startsWith('assets/')) reply.header('cache-control', IMMUTABLE);
      return reply.sendFile(wanted);
    }
    if (!(await isFile(join(root, 'index.html')))) throw new GatewayError('ui_not_built');
    return reply.sendFile('index.html');
  });
}
