import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the compose file's nginx does in front of the api replicas (deploy/compose/nginx.conf):
 * each request goes to the next replica in turn, its body and answer streamed through
 * unbuffered, with X-Forwarded-For appended. (nginx also retries a refused connection on
 * the next replica; this proxy does not: a test that stops a replica takes it out with
 * `setUpstreams`, as a load balancer's health check would.)
 */
export class RoundRobinProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private next = 0;
  /** How many requests each upstream got, by its base URL. */
  readonly served = new Map<string, number>();

  constructor(private upstreams: readonly string[]) {}

  /** The replicas from the next request on; requests under way keep theirs. */
  setUpstreams(upstreams: readonly string[]): void {
    this.upstreams = [...upstreams];
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (address === undefined) throw new Error('the proxy is not started');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((incoming, outgoing) => {
      const forward = () => {
        const base = this.upstreams[this.next++ % this.upstreams.length] as string;
        const target = new URL(incoming.url ?? '/', base);
        const forwardedFor = [incoming.headers['x-forwarded-for'], incoming.socket.remoteAddress]
          .filter((part) => part !== undefined)
          .join(', ');
        const upstream = request(
          target,
          {
            method: incoming.method,
            headers: { ...incoming.headers, 'x-forwarded-for': forwardedFor },
          },
          (answer) => {
            this.served.set(base, (this.served.get(base) ?? 0) + 1);
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(outgoing);
          },
        );
        upstream.once('error', () => {
          if (!outgoing.headersSent) outgoing.writeHead(502).end();
          else outgoing.destroy();
        });
        incoming.pipe(upstream);
      };
      forward();
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
