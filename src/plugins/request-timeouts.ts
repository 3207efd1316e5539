import type { Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

export interface RequestTimeouts {
  /** Whole request, first byte to the body's last; 0: no limit. */
  bodyMs: number;
  /** The headers alone; 0: no limit. */
  headersMs: number;
}

/**
 * How often Node looks for requests past their time. Its default, 30 s, would let a request
 * run up to twice a 30 s timeout; the check walks only the connections still receiving.
 */
const CHECK_EVERY_MS = 1000;

/** The 408 written on the socket itself: Fastify's lifecycle is still waiting for the body. */
function timeoutAnswer(requestId: string | null): string {
  const body = JSON.stringify(new GatewayError('request_timeout').toBody());
  const head = [
    'HTTP/1.1 408 Request Timeout',
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    'x-content-type-options: nosniff',
    ...(requestId === null ? [] : [`x-request-id: ${requestId}`]),
  ];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * A client must send its whole request, headers and body, in time, or it gets a 408 and its
 * connection is closed: a trickling client would otherwise hold a connection and a parser
 * for as long as it likes, without even a key. Node's own request timeout does the watching
 * (Fastify turns it off by default); it stops at the request's last byte, so a response,
 * however long it streams, is never cut by it. No socket idle timeout is set for the same
 * reason: a stream may wait minutes for an upstream's first byte.
 */
export function registerRequestTimeouts(app: FastifyInstance, timeouts: RequestTimeouts): void {
  const server = app.server;
  server.requestTimeout = timeouts.bodyMs;
  server.headersTimeout = timeouts.headersMs;
  // Read when the server starts listening, so set before; @types/node lists it as an option only.
  (server as typeof server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    Math.min(CHECK_EVERY_MS, ...[timeouts.bodyMs, timeouts.headersMs].filter((ms) => ms > 0));
  if (timeouts.bodyMs > 0) watchHttp2Bodies(app, timeouts.bodyMs);
  if (timeouts.bodyMs === 0 && timeouts.headersMs === 0) return;

  // The request a connection is receiving, to answer it in OpenAI's shape and log it as such.
  const receiving = new WeakMap<Socket, { request: FastifyRequest; reply: FastifyReply }>();
  app.addHook('onRequest', (request, reply, done) => {
    receiving.set(request.raw.socket, { request, reply });
    done();
  });
  // Ahead of Fastify's own listener, which answers in its own shape; it leaves a socket
  // that is destroyed already alone.
  server.prependListener('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT' || socket.destroyed) return;
    // The connection's last request, if it is the one still arriving; otherwise the late one
    // is a next request whose headers never completed, which the app has not seen.
    const last = receiving.get(socket);
    const late = last !== undefined && !last.request.raw.complete ? last : undefined;
    // Nothing can follow a response already under way for the late request (a 401 sent
    // before its body was read) or still going for the one before; closing is all that is left.
    const response = last?.reply.raw;
    const underWay =
      response?.headersSent === true && (late !== undefined || !response.writableFinished);
    if (socket.writable && !underWay) socket.write(timeoutAnswer(late?.request.id ?? null));
    if (late !== undefined) late.request.errorCode = 'request_timeout';
    (late?.request.log ?? app.log).info(
      { remoteAddress: socket.remoteAddress },
      'request not received in time; connection closed',
    );
    socket.destroy();
  });
}

/**
 * HTTP/2 streams share a connection, so Node's per-connection request timeout does not see
 * them: each request's body is timed here instead (its headers arrive in one frame). A late
 * body gets the 408 through the app, then its stream is reset so the client stops sending.
 */
function watchHttp2Bodies(app: FastifyInstance, bodyMs: number): void {
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw as unknown as Http2ServerRequest;
    if (request.raw.httpVersionMajor !== 2 || raw.complete) return done();
    const timer = setTimeout(() => {
      if (raw.complete || reply.raw.destroyed) return;
      request.errorCode = 'request_timeout';
      request.log.info('request not received in time; stream closed');
      // The response's own 'finish' waits for the stream to close: the stream's is the one.
      raw.stream.once('finish', () => raw.stream.destroy());
      if (reply.sent) raw.stream.destroy();
      // The body parser is reading: it fails with the timeout and answers it, as it would
      // any body that broke off. Answering past it would leave it to answer a second time.
      else if (raw.listenerCount('error') > 0)
        raw.emit('error', new GatewayError('request_timeout'));
      else reply.send(new GatewayError('request_timeout'));
    }, bodyMs);
    timer.unref();
    reply.raw.once('close', () => clearTimeout(timer));
    done();
  });
}
