import OpenAI from 'openai';
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
import { useUsageWorkers } from '../helpers/cache-gateway.js';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { eventually, useUpstreamGateway } from '../helpers/gateway.js';

// A browser, a build and a gateway with its tenants' databases: generous hooks, as the
// machine may be busy (each waits for its event, none measures time).
vi.setConfig({ hookTimeout: 120_000 });

// The gateway serves the run's build of the panel (UI_DIR).
const env = useBuiltPanel();

describe('admin panel as a platform admin', () => {
  const { upstream, gateway } = useUpstreamGateway({ env });
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
  // The in-process gateway runs no background work of its own: a usage writer, as `serve` has.
  useUsageWorkers({ gateway });
  const sdk = (apiKey: string) =>
    new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  it('refuses a wrong key in words and sets no cookie', async () => {
    await page.goto(`${gateway.url}/ui/`);
    await page.getByRole('heading', { name: 'Sign in to llm-backend admin' }).waitFor();
    await expectAccessible(page);
    await shots.take(page, 'sign-in');
    await page.getByLabel('API key', { exact: true }).fill('llmb_not-a-key');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: UI_WAIT });
    expect(await alert.textContent()).toMatch(/key/i);
    expect(await browser.context.cookies(gateway.url)).toEqual([]);
  }, 60_000);

  it('onboards a tenant, sees its key used, its quota used, and the key rotated and revoked', async () => {
    upstream.always((_req, res) => json(res, 200, chatCompletion('Hello from upstream')));
    const slug = unique('ui');
    await signIn(page, gateway.url, gateway.adminKey);
    await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();

    // A tenant, from the Tenants page; a taken slug is refused in words and changes nothing.
    await page.getByLabel('Slug', { exact: true }).fill(slug);
    await page.getByLabel('Name', { exact: true }).fill(`UI ${slug}`);
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByRole('link', { name: slug, exact: true }).waitFor({ timeout: UI_WAIT });
    await page.getByLabel('Slug', { exact: true }).fill(slug);
    await page.getByLabel('Name', { exact: true }).fill('Twice');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByRole('alert').waitFor({ timeout: UI_WAIT });
    expect(await page.getByRole('link', { name: slug, exact: true }).count()).toBe(1);
    await expectAccessible(page);
    await shots.take(page, 'tenants');

    // Its pages: picked from the list, a user, then a key for the user.
    await page.getByRole('link', { name: slug, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: UI_WAIT });
    await openPage(page, 'Users');
    await page.getByLabel('Email', { exact: true }).fill(`dev@${slug}.example`);
    await page.getByLabel('Name', { exact: true }).fill('Dev');
    await page.getByLabel('Role', { exact: true }).selectOption('member');
    await page.getByRole('button', { name: 'Add user' }).click();
    const added = await page.getByText(/^User .* added/).textContent({ timeout: UI_WAIT });
    const userId = /\((usr_[^)]+)\)/.exec(added ?? '')?.[1] ?? '';
    expect(userId).toMatch(/^usr_/);
    await shots.take(page, 'users');

    await openPage(page, 'API keys');
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], {
      origin: gateway.url,
    });
    await page.getByLabel('Key name', { exact: true }).fill('e2e');
    await page.getByLabel('Role', { exact: true }).selectOption('member');
    await page.getByLabel('User ID', { exact: true }).fill(userId);
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('secret').textContent({ timeout: UI_WAIT })) ?? '';
    expect(secret).toMatch(/^llmb_/);
    await page.getByRole('button', { name: 'Copy secret' }).click();
    await page.getByText('Copied to the clipboard.').waitFor({ timeout: UI_WAIT });
    expect(
      await page.evaluate(() =>
        (
          globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
        ).navigator.clipboard.readText(),
      ),
    ).toBe(secret);
    await page.getByRole('button', { name: 'Done' }).click();
    const keyId =
      (await page.getByRole('row', { name: /e2e/ }).locator('code').first().textContent()) ?? '';
    expect(keyId).toMatch(/^key_/);
    await expectAccessible(page);
    await shots.take(page, 'keys');

    // The secret calls a model, and the request shows up in the usage explorer.
    const answer = await sdk(secret).chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(answer.choices[0]?.message.content).toBe('Hello from upstream');
    await openPage(page, 'Usage');
    await page.getByLabel('Key ID', { exact: true }).fill(keyId);
    await eventually(async () => {
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByRole('cell', { name: 'gpt-test' }).waitFor({ timeout: 1000 });
    }, UI_WAIT);
    expect(await page.getByText(/1 requests, 13 tokens/).count()).toBe(1);
    await expectAccessible(page);
    await shots.take(page, 'usage');

    // A token quota for the tenant, and what it used so far.
    await openPage(page, 'Quotas and budgets');
    await page.getByLabel('Metric', { exact: true }).selectOption('tokens');
    await page.getByLabel('Period', { exact: true }).selectOption('month');
    await page.getByLabel('Amount', { exact: true }).fill('1000');
    await page.getByRole('button', { name: 'Save quota' }).click();
    await page.getByText('13 of 1,000').waitFor({ timeout: UI_WAIT });
    await expectAccessible(page);
    await shots.take(page, 'quotas');

    // Rotate (a new secret, shown once), then revoke: the key stops.
    await openPage(page, 'API keys');
    await confirm(page, 'Rotate e2e', 'Rotate');
    const rotated = (await page.getByTestId('secret').textContent({ timeout: UI_WAIT })) ?? '';
    expect(rotated).toMatch(/^llmb_/);
    expect(rotated).not.toBe(secret);
    await page.getByRole('button', { name: 'Done' }).click();
    await confirm(page, 'Revoke e2e', 'Revoke key');
    await page.getByRole('row', { name: /e2e/ }).getByText('revoked').waitFor({ timeout: UI_WAIT });
    await expect(
      sdk(rotated).chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    ).rejects.toMatchObject({ status: 401 });

    // The audit log names the revocation.
    await openPage(page, 'Audit log');
    await page.getByLabel('Action', { exact: true }).fill('api_key.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('cell', { name: 'api_key.revoke' }).waitFor({ timeout: UI_WAIT });
    await expectAccessible(page);
    await shots.take(page, 'audit');

    await openPage(page, 'Overview');
    await page.getByRole('figure').first().waitFor({ timeout: UI_WAIT });
    await expectAccessible(page);
    await shots.take(page, 'overview');
    expect(cspRefusals).toEqual([]);
  }, 180_000);

  it('shows every platform and tenant page without serious accessibility violations', async () => {
    await page.goto(`${gateway.url}/ui/t/test/overview`);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: UI_WAIT });
    const pages: [string, string?][] = [
      ['Tenants'],
      ['Database servers'],
      ['Models and deployments'],
      ['Platform keys'],
      ['Overview'],
      ['Users'],
      ['API keys'],
      ['Model access'],
      ['Rate limits'],
      ['Quotas and budgets'],
      ['Usage'],
      ['Audit log'],
      ['Webhooks'],
      ['Provider keys'],
      ['Response cache'],
      ['Invoices'],
    ];
    for (const [link, heading] of pages) {
      await openPage(page, link, heading);
      expect(await page.getByRole('alert').count(), link).toBe(0);
      await expectAccessible(page);
      if (link === 'Models and deployments') {
        await page.getByRole('cell', { name: 'gpt-test' }).first().waitFor({ timeout: UI_WAIT });
        await shots.take(page, 'deployments');
      }
    }
    expect(cspRefusals).toEqual([]);
  }, 180_000);
});
