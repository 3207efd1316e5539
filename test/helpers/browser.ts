import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { beforeAll } from 'vitest';
import { runResource } from './run-resource.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Debian's Chromium (installed by .ci/run): playwright-core downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The gateway's environment for a file of browser tests: UI_DIR is the admin panel as the
 * run's build made it (`npm run build`, dist/web, production mode), built once for every
 * file that asks, set before the file's gateway starts.
 */
export function useBuiltPanel(): Record<string, string> {
  const env: Record<string, string> = {};
  beforeAll(async () => {
    await runResource('build');
    env.UI_DIR = join(REPO_ROOT, 'dist', 'web');
  }, 300_000);
  return env;
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless Chromium with its own fresh profile, removed on close. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'llm-backend-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 860 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

const AXE_SOURCE = readFileSync(join(REPO_ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page as it is and returns the serious and critical violations
 * (an empty list is what every page must give). axe is evaluated through the DevTools
 * protocol: a <script> tag (addScriptTag) would be inline, which the panel's CSP refuses.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  const hasAxe = await page.evaluate(() => 'axe' in globalThis);
  if (!hasAxe) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }
    ).axe;
    const result = await axe.run();
    return result.violations.map(({ id, impact, help, nodes }) => ({
      id,
      impact,
      help,
      nodes: nodes.map((node) => ({ target: node.target })),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * Screenshots go to a temporary directory; with UPDATE_SCREENSHOTS=1 they are also copied to
 * docs/images/admin-<name>.png, so an ordinary test run leaves the tree as it was.
 */
export function screenshots(): { take(page: Page, name: string): Promise<void>; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-screens-'));
  const docs = join(REPO_ROOT, 'docs', 'images');
  return {
    dir,
    take: async (page, name) => {
      const file = join(dir, `admin-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      if (process.env.UPDATE_SCREENSHOTS === '1') {
        mkdirSync(docs, { recursive: true });
        copyFileSync(file, join(docs, `admin-${name}.png`));
      }
    },
  };
}
