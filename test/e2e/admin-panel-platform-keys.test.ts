import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  confirm,
  expectAccessible,
  openPage,
  signIn,
  UI_WAIT,
  unique,
  watchCsp,
} from '../helpers/admin-panel.js';
import { launchBrowser, type TestBrowser, useBuiltPanel } from '../helpers/browser.js';
import { useUpstreamGateway } from '../helpers/gateway.js';

// A browser, a build and a gateway: generous hooks, as the machine may be busy (each waits
// for its event, none measures time).
vi.setConfig({ hookTimeout: 120_000 });

// The gateway serves the run's build of the panel (UI_DIR).
const env = useBuiltPanel();

describe("admin panel: platform keys and the audit log's chain check", () => {
  const { gateway } = useUpstreamGateway({ env });
  let browser: TestBrowser;
  let page: Page;
  let cspRefusals: string[];

  beforeAll(async () => {
    browser = await launchBrowser();
    page = await browser.context.newPage();
    cspRefusals = watchCsp(page);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  const tenants = (key: string) =>
    fetch(`${gateway.url}/admin/v1/tenants`, { headers: { authorization: `Bearer ${key}` } });

  it('creates a platform key whose secret works, then revokes it and sees it refused', async () => {
    const name = unique('ops');
    await signIn(page, gateway.url, gateway.adminKey);
    await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor({ timeout: UI_WAIT });
    await openPage(page, 'Platform keys');
    // The key this session is signed in with is flagged, so no one revokes it unawares.
    await page.getByText('(this session)').waitFor({ timeout: UI_WAIT });

    await page.getByLabel('Key name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Create platform key' }).click();
    const secret = (await page.getByTestId('secret').textContent({ timeout: UI_WAIT })) ?? '';
    expect(secret).toMatch(/^llmb_/);
    await expectAccessible(page);
    await page.getByRole('button', { name: 'Done' }).click();
    expect((await tenants(secret)).status).toBe(200);

    await confirm(page, `Revoke ${name}`, 'Revoke key');
    await page
      .getByRole('row', { name: new RegExp(name) })
      .getByText('revoked')
      .waitFor({ timeout: UI_WAIT });
    expect((await tenants(secret)).status).toBe(401);
    await expectAccessible(page);
    expect(cspRefusals).toEqual([]);
  }, 120_000);

  it('verifies the audit chain in words', async () => {
    await page.goto(`${gateway.url}/ui/t/test/audit`);
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor({ timeout: UI_WAIT });
    await page.getByRole('button', { name: 'Verify chain' }).click();
    const result = page.getByRole('status').filter({ hasText: /Chain/ });
    await result.waitFor({ timeout: UI_WAIT });
    expect(await result.textContent()).toMatch(/^Chain intact: all \d+ entries match\.$/);
    await expectAccessible(page);
    expect(cspRefusals).toEqual([]);
  }, 120_000);
});
