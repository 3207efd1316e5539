import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPath } from '../helpers/commands.js';
import { alertRules, panelQueries, RULES_FILE, substitute } from '../helpers/dashboards.js';
import { eventually } from '../helpers/gateway.js';
import { driveTraffic, type ObservedStack, startObservedStack } from '../helpers/observed-stack.js';
import { type PrometheusAnswer, PrometheusServer } from '../helpers/prometheus.js';

const prometheusBinary = onPath('prometheus');
/**
 * What Grafana would send: "All" for each variable, a rate window over many 1 s scrapes.
 * The window is wide because a rate only has a value while the rise it measures lies inside
 * it: on a loaded machine the last webhook delivery may be more than a minute old by the
 * time its panel is asked.
 */
const INTERVALS = { rate: '10m', range: '1h' };
/** Generous: the machine may be loaded; Prometheus scrapes every second. */
const PATIENCE_MS = 60_000;

const hostOf = (url: string) => new URL(url).host;
const resultOf = (answer: PrometheusAnswer) => answer.data?.result ?? [];

/**
 * The dashboards and alert rules against a real Prometheus scraping a real gateway and worker:
 * every expression must parse, and every panel must show data once traffic has gone through.
 */
describe.skipIf(prometheusBinary === null)('dashboards and alert rules on Prometheus', () => {
  let stack: ObservedStack;
  let prometheus: PrometheusServer;
  let outcomes: PromiseSettledResult<unknown>[];

  /**
   * Series that only round one's traffic makes: the gateway's answers, and the worker's
   * webhook deliveries (of the quota thresholds passed). Once Prometheus holds a sample of
   * each, it has scraped both processes since that traffic.
   */
  const FIRST_ROUND = [
    'llm_backend_inference_requests_total{outcome="ok"}',
    'llm_backend_webhook_delivery_duration_seconds_count{outcome="delivered"}',
  ];
  beforeAll(async () => {
    stack = await startObservedStack();
    prometheus = new PrometheusServer(
      prometheusBinary ?? '',
      [
        { job: 'llm-backend', targets: [hostOf(stack.serve.url)] },
        { job: 'llm-backend-worker', targets: [hostOf(stack.worker.url)] },
      ],
      [fileURLToPath(RULES_FILE)],
    );
    await prometheus.start();
    // Two rounds with a scrape between them, so that counters rise within a rate window and
    // every rate and quantile has a value (a counter seen once has no rate).
    const first = await driveTraffic(stack);
    await eventually(async () => {
      for (const series of FIRST_ROUND)
        expect(resultOf(await prometheus.query(series)), series).not.toEqual([]);
    }, PATIENCE_MS);
    outcomes = [...first, ...(await driveTraffic(stack))];
  }, 180_000);
  afterAll(async () => {
    await prometheus?.stop();
    await stack?.close();
  }, 60_000);

  it('drove answers, failures and a refusal through the gateway', () => {
    const statuses = outcomes.map((outcome) =>
      outcome.status === 'fulfilled' ? 200 : (outcome.reason as { status?: number }).status,
    );
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    expect(statuses.some((status) => status !== undefined && status >= 500)).toBe(true);
  });

  it(
    'scrapes the gateway and the worker',
    async () => {
      await eventually(async () => {
        const answer = resultOf(await prometheus.query('llm_backend_up'));
        const roles = answer.map((series) => series.metric.instance_role).sort();
        expect(roles).toEqual(['serve', 'worker']);
      }, PATIENCE_MS);
    },
    PATIENCE_MS + 10_000,
  );

  it(
    'answers every panel query of the three dashboards with numbers',
    async () => {
      const queries = panelQueries();
      expect(queries.length).toBeGreaterThan(40);
      const pending = new Map(queries.map((query) => [query, 'not asked yet']));
      const started = Date.now();
      let drivenAgain = false;
      // Every query again until each has a number: a counter needs two scrapes for a rate.
      while (pending.size > 0 && Date.now() - started < PATIENCE_MS) {
        // Halfway, one more round of traffic for what is still missing (the thresholds go up
        // to 10 %, so it raises webhook deliveries too). A panel that never gets data still
        // fails.
        if (!drivenAgain && Date.now() - started > PATIENCE_MS / 2) {
          drivenAgain = true;
          await driveTraffic(stack);
        }
        for (const query of pending.keys()) {
          const answer = await prometheus.query(substitute(query.expr, INTERVALS));
          // NaN is what a quantile of no observations gives: Grafana draws nothing for it.
          const values = resultOf(answer).map((series) => Number(series.value?.[1]));
          if (answer.status !== 'success')
            pending.set(query, `${answer.errorType}: ${answer.error}`);
          else if (!values.some(Number.isFinite))
            pending.set(query, `no data (${values.length} series, none a number)`);
          else pending.delete(query);
        }
        if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const failures = [...pending].map(
        ([query, why]) => `${query.dashboard} / ${query.panel} / ${query.refId}: ${why}`,
      );
      expect(failures).toEqual([]);
    },
    PATIENCE_MS + 30_000,
  );

  // A rule's expression is its alert condition: empty until it fires, and some cannot fire
  // in a short test at all (LlmBackendConsumptionAboveYesterday reads `offset 1d`,
  // LlmBackendLatencyDegraded a day's rate). So rules must parse and evaluate here, the
  // metrics they read must exist (below), and promtool's unit tests show each one firing.
  it('parses every alert rule expression', async () => {
    for (const rule of alertRules()) {
      const answer = await prometheus.query(rule.expr);
      expect({ rule: rule.alert, status: answer.status, error: answer.error }).toEqual({
        rule: rule.alert,
        status: 'success',
        error: undefined,
      });
    }
  });

  it(
    'loads the rules file and evaluates every rule without error',
    async () => {
      type Rules = {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      await eventually(async () => {
        const rules = (await prometheus.api<Rules>('rules')).data.groups.flatMap(
          (group) => group.rules,
        );
        expect(rules.map((rule) => rule.name).sort()).toEqual(
          alertRules()
            .map((rule) => rule.alert)
            .sort(),
        );
        expect(rules.filter((rule) => rule.health !== 'ok')).toEqual([]);
      }, PATIENCE_MS);
    },
    PATIENCE_MS + 10_000,
  );

  it(
    'exposes every metric the alert rules read',
    async () => {
      const names = new Set(
        alertRules().flatMap((rule) =>
          [...rule.expr.matchAll(/\bllm_backend_\w+/g)].map(([name]) => name),
        ),
      );
      const missing: string[] = [];
      await eventually(async () => {
        missing.length = 0;
        for (const name of names)
          if (resultOf(await prometheus.query(`count(${name})`)).length === 0) missing.push(name);
        expect(missing).toEqual([]);
      }, PATIENCE_MS);
    },
    PATIENCE_MS + 10_000,
  );
});
