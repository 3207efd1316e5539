import type { Server } from 'node:http';
import type { Http2SecureServer, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';

/** What a graceful shutdown needs of the server's open connections. */
export interface Connections {
  /** Closes connections with nothing under way; those still answering finish first. */
  closeIdle(): void;
  /** Cuts every connection, whatever it is doing. */
  closeAll(): void;
}

const tracked = new WeakMap<object, Connections>();

/**
 * The HTTP/1 server has both operations built in. The HTTP/2 server (with TLS) has neither,
 * so its sessions and its HTTP/1.1 connections are tracked by `trackConnections`.
 */
export function connectionsOf(server: Server | Http2SecureServer): Connections {
  const own = tracked.get(server);
  if (own !== undefined) return own;
  const plain = server as Server;
  return {
    closeIdle: () => plain.closeIdleConnections(),
    closeAll: () => plain.closeAllConnections(),
  };
}

/**
 * Tracks an HTTP/2 server's connections. An HTTP/2 session is closed with GOAWAY, which
 * refuses new streams and lets the open ones (a running stream included) finish before the
 * connection goes. An HTTP/1.1 connection (ALPN fallback) is idle between requests only.
 */
export function trackConnections(server: Http2SecureServer): void {
  const sessions = new Set<ServerHttp2Session>();
  const http1 = new Set<Socket>();
  const busy = new WeakSet<Socket>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
    if (socket.alpnProtocol === 'h2') return;
    http1.add(socket);
    socket.once('close', () => http1.delete(socket));
  });
  server.on('request', (request, response) => {
    if (request.httpVersionMajor !== 1) return;
    const socket = request.socket;
    busy.add(socket);
    response.once('close', () => busy.delete(socket));
  });
  tracked.set(server, {
    closeIdle() {
      for (const session of sessions) if (!session.closed) session.close();
      for (const socket of http1) if (!busy.has(socket)) socket.destroy();
    },
    closeAll() {
      for (const session of sessions) session.destroy();
      for (const socket of http1) socket.destroy();
    },
  });
}
