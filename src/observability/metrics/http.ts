import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { seriesOf } from './series.js';

export interface HttpMetrics {
  /** One finished request: counted and timed under its method, route pattern and status. */
  finished(method: string, route: string, status: number, seconds: number): void;
  /** Counts the sockets of an HTTP server (the gateway's port and the operations port). */
  watch(server: {
    getConnections(callback: (error: Error | null, count: number) => void): void;
  }): void;
}

export function httpMetrics(registry: Registry): HttpMetrics {
  const requests = new Counter({
    name: 'llm_backend_http_requests_total',
    help: 'HTTP requests by method, route and status, counted when they end; status 499 when the client went away first.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'llm_backend_http_request_duration_seconds',
    help: 'HTTP request duration, until the last byte of the response.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const servers: Parameters<HttpMetrics['watch']>[0][] = [];
  new Gauge({
    name: 'llm_backend_open_connections',
    help: "HTTP connections (sockets) open on the gateway's main port (PORT), keep-alive ones included.",
    registers: [registry],
    async collect() {
      const counts = await Promise.all(
        servers.map(
          (server) =>
            new Promise<number>((resolve) =>
              server.getConnections((error, count) => resolve(error ? 0 : count)),
            ),
        ),
      );
      this.set(counts.reduce((a, b) => a + b, 0));
    },
  });
  const series = seriesOf((method, route, status) => ({
    count: requests.labels(method, route, status),
    time: duration.labels(method, route, status),
  }));
  return {
    finished(method, route, status, seconds) {
      const s = series(method, route, String(status));
      s.count.inc();
      s.time.observe(seconds);
    },
    watch: (server) => void servers.push(server),
  };
}
