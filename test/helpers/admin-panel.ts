import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { seriousViolations } from './browser.js';

/** Generous: the panel waits on the gateway, which shares two cores with other tests. */
export const UI_WAIT = 15_000;

/** Records every CSP refusal the page reports: the panel must need no inline code. */
export function watchCsp(page: Page): string[] {
  const refusals: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) refusals.push(message.text());
  });
  return refusals;
}

/** Signs in on /ui/ with an API key (no session before) and waits for the first page. */
export async function signIn(page: Page, baseUrl: string, apiKey: string): Promise<void> {
  await page.context().clearCookies();
  await page.goto(`${baseUrl}/ui/`);
  await page.getByLabel('API key', { exact: true }).fill(apiKey);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: UI_WAIT });
}

/** Follows a link of the main menu and waits for the page's heading. */
export async function openPage(page: Page, link: string, heading = link): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: UI_WAIT });
  // Whatever the page loads is in once no "Loading…" status is left.
  await page
    .getByText(/^Loading /)
    .first()
    .waitFor({ state: 'detached', timeout: UI_WAIT });
}

/** axe-core on the page as it is now: no serious or critical violation. */
export async function expectAccessible(page: Page): Promise<void> {
  const heading = await page.getByRole('heading', { level: 1 }).first().textContent();
  expect({ page: heading, violations: await seriousViolations(page) }).toEqual({
    page: heading,
    violations: [],
  });
}

/** The confirmation dialog of a destructive action: asks, then confirms. */
export async function confirm(page: Page, button: string, confirmLabel: string): Promise<void> {
  await page.getByRole('button', { name: button, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByRole('button', { name: confirmLabel, exact: true }).click();
  await dialog.waitFor({ state: 'detached', timeout: UI_WAIT });
}

/** A unique name, so no test leans on what another left behind. */
export const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
