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
 * The same change can cut one of the page's scripts while the page itself loads: the page is up but never
 * starts (it said "offline" with no stream request for 30 s, 2026-12-07); it is loaded again then too. The
 * page's own requests to the API are left to its retries. At most 5 tries; any other error is the test's.
 */
const NETWORK_CHANGE = /ERR_NETWORK_CHANGED|interrupted by another navigation to "?chrome-error:/;

export async function gotoSteadily(page: Page, url: string): Promise<void> {
  const seen = track(page);
  for (let attempt = 1; ; attempt++) {
    const mark = seen.failed.length;
    try {
      // A fragment-only change does not load the page again; a reload does.
      if (attempt > 1 && page.url() === url) await page.reload();
      else await page.goto(url);
      const cut = seen.failed.slice(mark).filter((f) => NETWORK_CHANGE.test(f) && !f.includes('/v1/'));
      if (cut.length === 0) return;
      if (attempt >= 5) throw new Error(`${url} loaded 5 times, each time without all of its files: ${cut.join(', ')}`);
    } catch (err) {
      if (attempt >= 5 || !NETWORK_CHANGE.test(String(err))) throw err;
    }
  }
}

/** What a page's requests got, from its first `gotoSteadily`: each stats-stream request's, and every failure. */
interface Seen {
  streams: string[];
  failed: string[];
  errors: string[];
}
const pages = new WeakMap<Page, Seen>();

function track(page: Page): Seen {
  const known = pages.get(page);
  if (known) return known;
  const s: Seen = { streams: [], failed: [], errors: [] };
  pages.set(page, s);
  const at = () => new Date().toISOString().slice(11, 23);
  const isStream = (u: string) => u.includes('/v1/stats/stream');
  page.on('request', (r) => {
    if (isStream(r.url())) s.streams.push(`${at()} sent`);
  });
  page.on('response', (r) => {
    if (isStream(r.url())) s.streams.push(`${at()} ${r.status()}`);
  });
  page.on('requestfailed', (r) => {
    const failure = `${at()} ${new URL(r.url()).pathname} ${r.failure()?.errorText ?? 'failed'}`;
    s.failed.push(failure);
    if (isStream(r.url())) s.streams.push(failure);
  });
  page.on('pageerror', (e) => s.errors.push(`${at()} ${String(e)}`));
  return s;
}

/**
 * Until the dashboard shows its first live summary (`#live.on`), `timeoutMs` being a stall ceiling. Failing,
 * it says what the page says (`#live`: why it is not live), what each stream request got, and what failed on
 * the page, so that a failure in a CI log names its cause.
 */
export async function waitForLive(page: Page, timeoutMs = 30_000): Promise<void> {
  try {
    await page.waitForSelector('#live.on', { timeout: timeoutMs });
  } catch (err) {
    const said = await page.textContent('#live').catch((e: unknown) => `(unreadable: ${String(e)})`);
    const seen = pages.get(page);
    throw new Error(
      `the dashboard was not live within ${timeoutMs} ms; it says "${said}"; stream requests: [${seen?.streams.slice(-20).join(', ') ?? ''}]; ` +
        `failed requests: [${seen?.failed.slice(-20).join(', ') ?? ''}]; page errors: [${seen?.errors.slice(-5).join(', ') ?? ''}]`,
      { cause: err },
    );
  }
}
