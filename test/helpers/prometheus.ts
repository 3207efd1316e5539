import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

import { freePort } from './ports.js';

export { freePort };

export interface ScrapeJob {
  job: string;
  /** host:port of each target. */
  targets: string[];
}

export interface PrometheusResult {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface PrometheusAnswer {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: PrometheusResult[] };
}

/**
 * A Prometheus server of its own (the `prometheus` binary) on a free port, with a fresh
 * storage directory, scraping the given jobs every second and loading the given rule files.
 */
export class PrometheusServer {
  url = '';
  private child: ChildProcess | undefined;
  private output = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'llm-backend-prometheus-'));

  constructor(
    private readonly binary: string,
    private readonly jobs: ScrapeJob[],
    private readonly ruleFiles: string[] = [],
  ) {}

  async start(): Promise<void> {
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: this.ruleFiles,
      scrape_configs: this.jobs.map(({ job, targets }) => ({
        job_name: job,
        static_configs: [{ targets }],
      })),
    };
    const configFile = join(this.dir, 'prometheus.yml');
    writeFileSync(configFile, stringify(config));
    const port = await freePort();
    this.child = spawn(
      this.binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const stream of [this.child.stdout, this.child.stderr])
      stream?.on('data', (data: Buffer) => {
        this.output += data.toString();
      });
    this.url = `http://127.0.0.1:${port}`;
    const exited = once(this.child, 'exit').then(([code]) => {
      throw new Error(`prometheus exited (${code}): ${this.output}`);
    });
    await Promise.race([exited, this.untilReady()]);
    exited.catch(() => {});
  }

  private async untilReady(): Promise<void> {
    for (;;) {
      const ready = await fetch(`${this.url}/-/ready`).catch(() => null);
      if (ready?.ok) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** An instant query; the answer as Prometheus gives it, errors included. */
  async query(expr: string): Promise<PrometheusAnswer> {
    const response = await fetch(`${this.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    return (await response.json()) as PrometheusAnswer;
  }

  /** A range query, for drawing: from `start` to `end` (Unix seconds), one point per `step`. */
  async queryRange(
    expr: string,
    start: number,
    end: number,
    step: number,
  ): Promise<PrometheusAnswer> {
    const response = await fetch(`${this.url}/api/v1/query_range`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        query: expr,
        start: String(start),
        end: String(end),
        step: String(step),
      }),
    });
    return (await response.json()) as PrometheusAnswer;
  }

  /** GET on the HTTP API (targets, rules...). */
  async api<T>(path: string): Promise<T> {
    return (await (await fetch(`${this.url}/api/v1/${path}`)).json()) as T;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
