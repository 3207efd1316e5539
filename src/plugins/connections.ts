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
 * The HTTP/1 server has both operations built in. The HTTP/2 server (with TLS) knows only
 * its HTTP/1.1 connections' idle ones, so the rest is tracked by `trackConnections`.
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
 * connection goes. HTTP/1.1 connections (ALPN fallback): Node closes the idle ones itself,
 * but has no way to cut the others, so they are kept here for that.
 */
export function trackConnections(server: Http2SecureServer): void {
  const sessions = new Set<ServerHttp2Session>();
  const http1 = new Set<Socket>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
    if (socket.alpnProtocol === 'h2') return;
    http1.add(socket);
    socket.once('close', () => http1.delete(socket));
  });
  const withHttp1 = server as Http2SecureServer & { closeIdleConnections(): void };
  tracked.set(server, {
    closeIdle() {
      for (const session of sessions) if (!session.closed) session.close();
      withHttp1.closeIdleConnections();
    },
    closeAll() {
      for (const session of sessions) session.destroy();
      for (const socket of http1) socket.destroy();
    },
  });
}
