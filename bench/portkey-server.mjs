/**
 * Portkey's open-source gateway as `npx @portkey-ai/gateway` runs it (its own
 * build/start-server.js, @hono/node-server), bound to 127.0.0.1. That script takes only
 * `--port=N` (and `--headless`) and listens on every interface: it calls
 * `server.listen(port, undefined, callback)`, so the missing host is filled in here before
 * the script loads. Nothing else of Portkey's is changed.
 *
 *   node bench/portkey-server.mjs --port=8787 --headless
 */
import { Server } from 'node:http';

const listen = Server.prototype.listen;
Server.prototype.listen = function listenOnLoopback(port, host, ...rest) {
  return listen.call(this, port, host ?? '127.0.0.1', ...rest);
};

await import('@portkey-ai/gateway/build/start-server.js');
