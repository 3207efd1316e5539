import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { generateApiKey } from '../../src/domain/key-format.js';
import { writeConfigFile } from './gateway.js';
import { type ChildRole, startRole } from './gateway-process.js';
import { TEST_REDIS_URL } from './limit-stores.js';
import { RoundRobinProxy } from './round-robin-proxy.js';
import { TEST_MASTER_KEY } from './tenant-services.js';
import { dropStream } from './usage-queues.js';

/**
 * The Redis every process of the topology shares. A standalone server by default;
 * `TOPOLOGY_REDIS_URL` points the same tests at another one (a Redis Cluster's seed node
 * once the gateway speaks cluster).
 */
export const TOPOLOGY_REDIS_URL = process.env.TOPOLOGY_REDIS_URL ?? TEST_REDIS_URL;

export interface TopologyOptions {
  /** The control plane's PostgreSQL database (tenants' databases are made next to it). */
  databaseUrl: string;
  redisUrl: string;
  /** The gateway's config file contents (providers, models). */
  config: unknown;
  gateways: number;
  workers: number;
  /** Settings over the topology's own, for every process. */
  env?: Record<string, string>;
}

type Role = ChildRole & { url: string };

/**
 * Gateways (`llm-backend serve`, usage only published) and usage workers (`llm-backend
 * worker`), each a process of its own over one PostgreSQL and one Redis, the gateways behind
 * a round-robin load balancer. Any gateway can be killed with SIGKILL and started again.
 */
export class Topology {
  readonly children = new Set<ChildProcess>();
  readonly gateways: Role[] = [];
  readonly workers: Role[] = [];
  readonly balancer: RoundRobinProxy;
  readonly stream = `llmb:test:topology:${randomBytes(4).toString('hex')}`;
  /** A platform admin key, made by the first gateway to start. */
  readonly adminKey = generateApiKey();
  private readonly env: Record<string, string>;

  constructor(private readonly options: TopologyOptions) {
    this.env = {
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redisUrl,
      USAGE_STREAM: this.stream,
      MASTER_KEY: TEST_MASTER_KEY,
      BOOTSTRAP_ADMIN_KEY: this.adminKey,
      CONFIG_FILE: writeConfigFile(options.config),
      TEST_UPSTREAM_KEY: 'unused',
      PORT: '0',
      ...options.env,
    };
    this.balancer = new RoundRobinProxy([]);
  }

  async start(): Promise<void> {
    // The first gateway alone: it makes the platform admin key, which the others then find.
    this.gateways.push(await this.startGateway());
    const rest = Array.from({ length: this.options.gateways - 1 }, () => this.startGateway());
    const workers = Array.from({ length: this.options.workers }, () =>
      startRole('worker', this.env, this.children),
    );
    this.gateways.push(...(await Promise.all(rest)));
    this.workers.push(...(await Promise.all(workers)));
    this.balancer.setUpstreams(this.gateways.map((gateway) => gateway.url));
    await this.balancer.start();
  }

  private startGateway(): Promise<Role> {
    // The gateways only publish usage; the workers write it, as in a scaled deployment.
    return startRole('serve', { ...this.env, USAGE_WORKERS: '0' }, this.children);
  }

  /**
   * SIGKILL gateway `index` and take it out of the balancer at once, as a health check
   * would; requests it had under way are cut.
   */
  async kill(index: number): Promise<void> {
    const gateway = this.gateways[index];
    if (gateway === undefined) throw new Error(`no gateway ${index}`);
    this.balancer.setUpstreams(this.gateways.filter((g) => g !== gateway).map((g) => g.url));
    await gateway.kill();
  }

  /** Starts gateway `index` again (on a new port) and puts it back behind the balancer. */
  async restart(index: number): Promise<Role> {
    const gateway = await this.startGateway();
    this.gateways[index] = gateway;
    this.balancer.setUpstreams(this.gateways.map((g) => g.url));
    return gateway;
  }

  async stop(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    await this.balancer.stop();
    await dropStream(this.stream, this.options.redisUrl);
  }
}
