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
import { launchBrowser, screenshots, type TestBrowser, useBuiltPanel } from '../helpers/browser.js';
import { eventually, useUpstreamGateway } from '../helpers/gateway.js';

// A browser, a build and a gateway with its tenants' databases: generous hooks, as the
// machine may be busy (each waits for its event, none measures time).
vi.setConfig({ hookTimeout: 120_000 });

// The gateway serves the run's build of the panel (UI_DIR).
const env = useBuiltPanel();

describe('admin panel for a tenant', () => {
  // Webhooks may point at this machine, so a test webhook has somewhere to go.
  const { gateway } = useUpstreamGateway({
    env,
    services: { webhooks: { allowedHosts: ['127.0.0.1'] } },
  });
  let browser: TestBrowser;
  let page: Page;
  let cspRefusals: string[];
  const shots = screenshots();

  beforeAll(async () => {
    browser = await launchBrowser();
    page = await browser.context.newPage();
    cspRefusals = watchCsp(page);
  }, 60_000);
  // Registered after the gateway's hooks: the browser closes first, then the gateway.
  afterAll(async () => {
    await browser?.close();
  });

  interface Created {
    id: string;
    secret?: string;
  }
  /** The admin API with the platform admin key, for what a test needs before the browser. */
  const admin = async <T = Created>(method: string, path: string, body?: unknown) => {
    const response = await gateway.fetch(path, {
      method,
      headers: { authorization: `Bearer ${gateway.adminKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(response.ok, `${method} ${path}`).toBe(true);
    return (await response.json()) as T;
  };
  /** A fresh tenant and a key of `role` for it. */
  const tenantWithKey = async (role: string) => {
    const slug = unique('ui');
    await admin('POST', '/admin/v1/tenants', { slug, name: `UI ${slug}` });
    const key = await admin('POST', `/admin/v1/tenants/${slug}/api-keys`, { name: role, role });
    return { slug, secret: key.secret ?? '' };
  };
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key', { exact: true }).waitFor({ timeout: UI_WAIT });
  };

  it('lets a tenant admin run its tenant, refusing what its role may not do in words', async () => {
    const { slug, secret } = await tenantWithKey('admin');
    await signIn(page, gateway.url, secret);
    const menu = page.getByRole('navigation', { name: 'Main' });
    // No platform pages and no tenant picker: the key's own tenant only.
    expect(await menu.getByRole('link', { name: 'Tenants' }).count()).toBe(0);
    expect(await page.getByLabel('Manage tenant', { exact: true }).count()).toBe(0);

    await openPage(page, 'Users');
    await page.getByLabel('Email', { exact: true }).fill(`member@${slug}.example`);
    await page.getByLabel('Name', { exact: true }).fill('Member');
    await page.getByLabel('Role', { exact: true }).selectOption('member');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page
      .getByRole('cell', { name: `member@${slug}.example`, exact: true })
      .waitFor({ timeout: UI_WAIT });
    await confirm(page, `Disable member@${slug}.example`, 'Disable user');
    await page.getByRole('button', { name: `Enable member@${slug}.example` }).waitFor();

    // An admin cannot make an owner key: the API's message, in words; no key is made.
    await openPage(page, 'API keys');
    await page.getByLabel('Key name', { exact: true }).fill('would-be-owner');
    await page.getByLabel('Role', { exact: true }).selectOption('owner');
    await page.getByRole('button', { name: 'Create key' }).click();
    const refusal = await page.getByRole('alert').textContent({ timeout: UI_WAIT });
    expect(refusal).toMatch(/owner|role|permission/i);
    expect(await page.getByRole('cell', { name: 'would-be-owner', exact: true }).count()).toBe(0);

    await openPage(page, 'Rate limits');
    await page.getByLabel('Requests per minute', { exact: true }).fill('60');
    await page.getByRole('button', { name: 'Save limit' }).click();
    await page.getByRole('cell', { name: '60', exact: true }).waitFor({ timeout: UI_WAIT });
    await confirm(page, `Lift limit ${await limitId(page)}`, 'Lift limit');
    await page.getByText('No rate limits').waitFor({ timeout: UI_WAIT });

    await openPage(page, 'Webhooks');
    await page.getByLabel('URL', { exact: true }).fill('http://127.0.0.1:9/hook');
    await page.getByLabel('Event types', { exact: true }).fill('api_key.*');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    expect(await page.getByTestId('secret').textContent({ timeout: UI_WAIT })).toMatch(/^whsec_/);
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Send test' }).click();
    await page.getByText('A webhook.test event was sent.').waitFor({ timeout: UI_WAIT });
    await eventually(async () => {
      await page.getByRole('button', { name: 'Deliveries', exact: true }).click();
      await page.getByRole('button', { name: 'Redeliver webhook.test' }).waitFor({ timeout: 1000 });
    }, UI_WAIT);
    await page.getByRole('button', { name: 'Redeliver webhook.test' }).click();
    await page.getByText('Sent again.').waitFor({ timeout: UI_WAIT });
    await expectAccessible(page);
    await shots.take(page, 'webhooks');

    await openPage(page, 'Response cache');
    await page.getByLabel('Time to live (seconds)', { exact: true }).fill('600');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('The cache settings were saved.').waitFor({ timeout: UI_WAIT });
    const settings = await admin<{ ttl_seconds: number }>('GET', `/admin/v1/tenants/${slug}/cache`);
    expect(settings.ttl_seconds).toBe(600);
    expect(cspRefusals).toEqual([]);
    await signOut();
  }, 180_000);

  it('shows a viewer no write buttons, and the API refuses what its session forges', async () => {
    const { slug, secret } = await tenantWithKey('viewer');
    await signIn(page, gateway.url, secret);
    const menu = page.getByRole('navigation', { name: 'Main' });
    for (const hidden of ['Audit log', 'Webhooks', 'Invoices'])
      expect(await menu.getByRole('link', { name: hidden }).count(), hidden).toBe(0);
    for (const [link, form] of [
      ['Users', 'Add a user'],
      ['API keys', 'Create a key'],
      ['Rate limits', 'Set a limit'],
      ['Quotas and budgets', 'Set a quota'],
      ['Provider keys', 'Set a provider key'],
      ['Response cache', 'Cache settings'],
    ] as const) {
      await openPage(page, link);
      expect(await page.getByRole('form', { name: form }).count(), link).toBe(0);
      expect(
        await page
          .getByRole('button', { name: /^(Disable|Revoke|Rotate|Lift|Remove|Purge)/ })
          .count(),
        link,
      ).toBe(0);
      await expectAccessible(page);
    }

    // The browser's own fetch with the session cookie: without the CSRF token, then with it.
    const forged = await page.evaluate(async (tenant) => {
      const session = (await (await fetch('/ui/api/session')).json()) as { csrf_token: string };
      const send = async (headers: Record<string, string>) => {
        const response = await fetch(`/admin/v1/tenants/${tenant}/users`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ email: `forged@${tenant}.example`, name: 'F', role: 'owner' }),
        });
        return { status: response.status, body: await response.json() };
      };
      return [await send({}), await send({ 'x-csrf-token': session.csrf_token })];
    }, slug);
    expect(forged[0]).toMatchObject({
      status: 403,
      body: { error: { code: 'csrf_token_invalid' } },
    });
    expect(forged[1]).toMatchObject({
      status: 403,
      body: { error: { code: 'permission_denied' } },
    });
    const users = await admin<{ data: { email: string }[] }>(
      'GET',
      `/admin/v1/tenants/${slug}/users`,
    );
    expect(users.data).toEqual([]);
    expect(cspRefusals).toEqual([]);
    await signOut();
  }, 180_000);
});

/** The id of the only rate limit on the page (its "Lift" button names it). */
async function limitId(page: Page): Promise<string> {
  const name = await page.getByRole('button', { name: /^Lift limit / }).textContent();
  return (name ?? '').replace('Lift limit ', '');
}
