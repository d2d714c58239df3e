/**
 * A web page must not act with the control plane's authority (issue 13,
 * defect 11). On an --insecure control plane any page the developer has open
 * could POST a registration: a body without Content-Type was taken as JSON,
 * and nothing looked at Origin. Now a body must say application/json, and a
 * request a browser marks as cross-origin is refused (403 CROSS_ORIGIN), on
 * both the insecure and the TLS control plane. Proven with raw requests and
 * with a real Chromium on a page of another origin.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { gotoSteadily, launchChromium } from '../helpers/chromium.js';
import type { ApiErrorBody } from '../../src/config/wire.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

/** The page's document, as the function run in the browser sees it (no DOM types in this build). */
declare const document: { title: string };

const rogue = (service: string) => ({ service, address: '127.0.0.1', port: 6666 });

async function registered(cp: RunningControlPlane, service: string): Promise<number> {
  const res = await call<{ instances: unknown[] }>(cp.url, 'GET', `/v1/instances?service=${service}`);
  assert.equal(res.status, 200, res.text);
  return res.body.instances.length;
}

for (const insecure of [true, false]) {
  describe(`a ${insecure ? '--insecure' : 'TLS'} control plane refuses what a web page can send`, () => {
    let cp: RunningControlPlane;
    before(async () => {
      cp = await startControlPlane({ insecure });
    });
    after(async () => {
      await cp?.stop();
    });

    it('refuses a registration with no Content-Type, or text/plain, and registers nothing', async () => {
      for (const contentType of [null, 'text/plain', 'text/plain;charset=UTF-8']) {
        const res = await call<ApiErrorBody>(cp.url, 'POST', '/v1/instances', undefined, { raw: JSON.stringify(rogue('rogue')), contentType });
        assert.equal(res.status, 415, `${contentType}: ${res.text}`);
        assert.equal(res.body.error.code, 'HYPHAE_ERR_UNSUPPORTED_MEDIA_TYPE');
      }
      const noType = await call<ApiErrorBody>(cp.url, 'POST', '/v1/instances', undefined, { raw: JSON.stringify(rogue('rogue')), contentType: null });
      assert.match(noType.body.error.message, /no content-type; send application\/json/);
      assert.equal(await registered(cp, 'rogue'), 0);
      // JSON, said so, still registers.
      assert.equal((await call(cp.url, 'POST', '/v1/instances', rogue('legit'))).status, 201);
    });

    it('refuses requests a browser marks as cross-origin on every method, and allows its own origin', async () => {
      const evil = { origin: 'http://evil.example' };
      const cases: [string, string, unknown][] = [
        ['POST', '/v1/instances', rogue('rogue')],
        ['PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'rogue' }, spec: {} }],
        ['DELETE', '/v1/resources/Service/default/legit', undefined],
        ['GET', '/v1/instances', undefined],
        ['GET', '/v1/resources', undefined],
      ];
      for (const [method, p, body] of cases) {
        for (const headers of [evil, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
          const res = await call<ApiErrorBody>(cp.url, method, p, body, { headers });
          assert.equal(res.status, 403, `${method} ${p} ${JSON.stringify(headers)}: ${res.text}`);
          assert.equal(res.body.error.code, 'HYPHAE_ERR_CROSS_ORIGIN');
        }
      }
      assert.equal(await registered(cp, 'rogue'), 0);
      // Public reads stay open to links from anywhere: health, the trust bundle, the dashboard's page.
      assert.equal((await call(cp.url, 'GET', '/v1/health', undefined, { headers: evil })).status, 200);
      assert.equal((await call(cp.url, 'GET', '/ui', undefined, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 200);
      // The control plane's own origin (the dashboard's fetches) is served.
      const own = await call(cp.url, 'POST', '/v1/instances', rogue('own'), { headers: { origin: cp.url, 'sec-fetch-site': 'same-origin' } });
      assert.equal(own.status, 201, own.text);
    });
  });
}

describe('a page of another origin in Chromium cannot register on an --insecure control plane', () => {
  let cp: RunningControlPlane;
  let page: http.Server;
  let context: BrowserContext | undefined;
  let userDataDir: string;

  before(async () => {
    cp = await startControlPlane({ insecure: true });
    // What any site could serve: simple requests that need no CORS preflight, fired at the control plane.
    const html = `<!doctype html><script>
      const target = ${JSON.stringify(`${cp.url}/v1/instances`)};
      const body = JSON.stringify(${JSON.stringify(rogue('rogue'))});
      Promise.allSettled([
        fetch(target, { method: 'POST', mode: 'no-cors', body }),
        fetch(target, { method: 'POST', mode: 'no-cors', body: new Blob([body]) }),
      ]).then(() => { document.title = 'sent'; });
    </script>`;
    page = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-chromium-'));
  });
  after(async () => {
    await context?.close();
    await rm(userDataDir, { recursive: true, force: true });
    await new Promise<void>((r) => page.close(() => r()));
    await cp?.stop();
  });

  it('both no-cors POSTs (text/plain and a typeless Blob) are refused and nothing is registered', async () => {
    context = await launchChromium(userDataDir);
    const tab = await context.newPage();
    await gotoSteadily(tab, `http://127.0.0.1:${(page.address() as AddressInfo).port}/`);
    // A no-cors fetch settles once its (opaque) answer is in: both requests have been handled by then.
    await tab.waitForFunction(() => document.title === 'sent', undefined, { timeout: 15_000 });
    assert.equal(await registered(cp, 'rogue'), 0, cp.child.lines.join('\n'));
    const refused = cp.child.lines.filter((l) => /reject 403 POST \/v1\/instances: cross-origin request refused/.test(l));
    assert.equal(refused.length, 2, cp.child.lines.join('\n'));
  });
});
