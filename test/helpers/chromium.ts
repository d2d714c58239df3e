/**
 * Headless Chromium for the dashboard tests (a real browser, driven by playwright-core), on a throwaway
 * profile; the control planes under test have their own CAs, which that profile does not trust.
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export function launchChromium(userDataDir: string, viewport?: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: true,
    ...(viewport ? { viewport } : {}),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * `page.goto(url)`, again when Chromium aborts it for a network change: Chromium watches the host's
 * interfaces, and the multi-cluster tests that run beside these make and delete network namespaces and veth
 * pairs; a navigation under way then fails though nothing on loopback changed. Playwright reports it either
 * as ERR_NETWORK_CHANGED or, when Chromium has already put up its error page, as the navigation
 * "interrupted by another navigation to chrome-error://chromewebdata/" (a fresh-clone CI run, 2026-12-07).
 * At most 5 tries; any other error is the test's.
 */
const NETWORK_CHANGE = /ERR_NETWORK_CHANGED|interrupted by another navigation to "?chrome-error:/;

export async function gotoSteadily(page: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (err) {
      if (attempt >= 5 || !NETWORK_CHANGE.test(String(err))) throw err;
    }
  }
}
