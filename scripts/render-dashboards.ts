/**
 * Renders each Grafana dashboard of deploy/grafana/dashboards with real data, for the docs:
 * starts a gateway and a worker (over the test databases) and a Prometheus scraping them, drives traffic for
 * a while, runs every panel's PromQL, draws the panels (scripts/dashboard-html.ts) and takes a
 * screenshot of each dashboard with Chromium into docs/images/. Run by hand:
 *
 *   npx tsx scripts/render-dashboards.ts [seconds of traffic, default 180] [chromium path]
 *
 * It needs what the test suite needs (PostgreSQL, Redis), the `prometheus` binary and Chromium.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { onPath } from '../test/helpers/commands.js';
import { DASHBOARDS, RULES_FILE, substitute } from '../test/helpers/dashboards.js';
import { driveTraffic, startObservedStack } from '../test/helpers/observed-stack.js';
import { type PrometheusResult, PrometheusServer } from '../test/helpers/prometheus.js';
import { dashboardHtml, type RenderedPanel, type Series } from './dashboard-html.js';

const SECONDS = Number(process.argv[2] ?? 180);
const CHROMIUM = process.argv[3] ?? '/usr/bin/chromium';
const IMAGES = fileURLToPath(new URL('../docs/images/', import.meta.url));
const STEP_S = 2;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A series' name as Grafana makes it from the target's legend format. */
const legendOf = (format: string, labels: Record<string, string>) =>
  format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_match, name: string) => labels[name] ?? '');

function seriesOf(results: PrometheusResult[], legendFormat: string): Series[] {
  return results.map((result) => ({
    name: legendOf(legendFormat, result.metric),
    labels: result.metric,
    column: legendFormat,
    points: (result.values ?? (result.value ? [result.value] : [])).map(
      ([t, v]): [number, number] => [t, Number(v)],
    ),
  }));
}

/** Traffic in waves: more rounds at once, then fewer, so the graphs have a shape. */
async function driveFor(stack: Awaited<ReturnType<typeof startObservedStack>>, seconds: number) {
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    const t = (Date.now() - started) / 1000;
    const rounds = 1 + Math.round(2 + 2 * Math.sin(t / 20));
    await Promise.all(Array.from({ length: rounds }, () => driveTraffic(stack)));
    await sleep(300);
  }
}

async function renderPanels(prometheus: PrometheusServer, start: number, end: number) {
  const intervals = { rate: '20s', range: `${Math.round(end - start)}s` };
  const pages: Record<string, string> = {};
  for (const [name, dashboard] of Object.entries(DASHBOARDS)) {
    const panels: RenderedPanel[] = [];
    for (const panel of dashboard.panels ?? []) {
      const targets = 'targets' in panel ? (panel.targets ?? []) : [];
      const series: Series[] = [];
      for (const target of targets) {
        const expr = substitute(String(target.expr), intervals);
        const answer =
          target.instant === true
            ? await prometheus.query(expr)
            : await prometheus.queryRange(expr, start, end, STEP_S);
        series.push(...seriesOf(answer.data?.result ?? [], String(target.legendFormat ?? '')));
      }
      panels.push({
        title: panel.title ?? '',
        type: panel.type,
        unit: String(('fieldConfig' in panel && panel.fieldConfig?.defaults?.unit) || 'short'),
        gridPos: { x: 0, y: 0, w: 24, h: 1, ...panel.gridPos },
        series,
      });
    }
    pages[name] = dashboardHtml(dashboard.title ?? name, panels);
  }
  return pages;
}

async function screenshot(pages: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-render-'));
  const browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1640, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    for (const [name, html] of Object.entries(pages)) {
      const file = join(dir, `${name}.html`);
      writeFileSync(file, html);
      const page = await browser.newPage();
      await page.goto(`file://${file}`);
      await page.screenshot({ path: join(IMAGES, `dashboard-${name}.png`), fullPage: true });
      await page.close();
      console.log(`docs/images/dashboard-${name}.png`);
    }
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const binary = onPath('prometheus');
  if (binary === null) throw new Error('prometheus is not on PATH');
  // Answers take 50 ms to about half a second, a few of them longer.
  const delayMs = () => 50 + Math.random() * (Math.random() < 0.05 ? 2000 : 400);
  const stack = await startObservedStack({ delayMs, tokensPerDay: 400_000 });
  const prometheus = new PrometheusServer(
    binary,
    [
      { job: 'llm-backend', targets: [new URL(stack.serve.url).host] },
      { job: 'llm-backend-worker', targets: [new URL(stack.worker.url).host] },
    ],
    [fileURLToPath(RULES_FILE)],
  );
  try {
    await prometheus.start();
    const start = Date.now() / 1000;
    await driveFor(stack, SECONDS);
    // Two more scrapes, so the last traffic is in.
    await sleep(2500);
    const pages = await renderPanels(prometheus, start, Date.now() / 1000);
    await screenshot(pages);
  } finally {
    await prometheus.stop();
    await stack.close();
  }
}

await main();
