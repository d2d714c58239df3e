/**
 * What an operator sees of the running demo (`npm run demo -- --keep`,
 * test/helpers/demo.ts): every process is a real mesh that reports its stats
 * to the (secure) control plane; `hyphae top` and `hyphae status` print the
 * live figures; a real Prometheus (Debian's) scrapes the mesh's metrics from
 * web's OpenTelemetry Prometheus exporter; the /ui dashboard in headless
 * Chromium shows the services and edges with their numbers, updates live, and
 * shows a killed instance leave within 5 s without a reload.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { BrowserContext } from 'playwright-core';
import { gotoSteadily, launchChromium, waitForLive } from '../helpers/chromium.js';
import { startDemo, type RunningDemo } from '../helpers/demo.js';
import { cliPath, repoRoot } from '../helpers/process.js';
import { startPrometheus } from '../helpers/prometheus.js';

const exec = promisify(execFile);

// The browser globals used inside page.evaluate callbacks (this project compiles without the DOM lib).
declare const document: {
  querySelector(selector: string): unknown;
  querySelectorAll(selector: string): { length: number };
  getElementById(id: string): { textContent: string | null } | null;
};
declare const window: unknown;

describe('observability of the running demo', { timeout: 600_000 }, () => {
  let demo: RunningDemo;

  async function hyphae(args: string[]): Promise<string> {
    const { stdout } = await exec(process.execPath, [cliPath, ...args, ...demo.cliFlags], { timeout: 60_000 });
    return stdout;
  }

  /** Until both edges carry traffic in the window (the demo's calls, then its steady 10 rps). */
  async function trafficFlows(): Promise<void> {
    const started = Date.now();
    let last = '';
    while (Date.now() - started < 30_000) {
      const s = JSON.parse(await hyphae(['top', '--once', '--json'])) as { edges: { source: string; destination: string; requests: number }[] };
      last = JSON.stringify(s.edges);
      const n = (src: string, dst: string) => s.edges.find((e) => e.source === `default/${src}` && e.destination === `default/${dst}`)?.requests ?? 0;
      if (n('demo', 'web') >= 20 && n('web', 'api') >= 20) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`no steady traffic on demo -> web -> api within 30 s: ${last}`);
  }

  before(async () => {
    demo = await startDemo(10);
    await trafficFlows();
  });

  after(async () => {
    await demo?.stop();
  });

  // Nothing in these changes what the others read, and most of their time is a CLI process or a browser
  // starting: side by side. The dashboard's test, which kills an api instance, runs after them.
  describe('what the views read, side by side', { concurrency: true }, () => {
    it('hyphae top --once prints live per-edge rps, success rate and latency', async () => {
      const out = await hyphae(['top', '--once']);
      console.log(out);
      const rows = new Map(
        out
          .split('\n')
          .filter((l) => /^\S+\s+\S+\s+[\d.]+\s+[\d.]+%/.test(l))
          .map((l) => {
            const [src, dst, rps, success, p50, p99, requests] = l.split(/\s+/);
            return [`${src}>${dst}`, { rps: Number(rps), success: parseFloat(success!), p50: parseFloat(p50!), p99: parseFloat(p99!), requests: Number(requests) }];
          }),
      );
      assert.deepEqual([...rows.keys()].sort(), ['demo>web', 'web>api']);
      for (const [edge, r] of rows) {
        // 10 rps steady; up to 50 rps while the demo's rolling restart ran, which may still be in the 10 s window.
        assert.ok(r.rps > 3 && r.rps < 60, `the demo sends 10 rps; top says ${r.rps} on ${edge}`);
        assert.equal(r.success, 100, `${edge}: every call succeeds`);
        assert.ok(r.p50 > 0 && r.p99 >= r.p50, `${edge}: p50 ${r.p50}, p99 ${r.p99}`);
      }

      const json = JSON.parse(await hyphae(['top', '--once', '--json', '--window', '20'])) as {
        windowSeconds: number;
        edges: { source: string; destination: string; rps: number; successRate: number; p99Ms: number }[];
      };
      assert.equal(json.windowSeconds, 30, 'a 20 s window is served as the 30 s one (the control plane keeps 10, 30 and 60 s)');
      const e = json.edges.find((x) => x.source === 'default/web' && x.destination === 'default/api')!;
      assert.ok(e.rps > 0 && e.successRate === 1 && e.p99Ms > 0, JSON.stringify(e));
    });

    it('hyphae status --json reports the control plane, the services with their live figures, and no warnings', async () => {
      const status = JSON.parse(await hyphae(['status', '--json'])) as {
        controlPlane: { status: string; instances: number; reporters: number };
        services: { name: string; instances: number; traffic: { rps: number; requests: number; successRate: number } }[];
        warnings: { kind: string; message: string }[];
      };
      console.log(JSON.stringify({ controlPlane: status.controlPlane, services: status.services.map((s) => [s.name, s.instances, s.traffic]), warnings: status.warnings }, null, 1));
      assert.equal(status.controlPlane.status, 'ok');
      assert.equal(status.controlPlane.instances, 4);
      // Three api instances, web and the demo process report now; the control plane keeps 60 s of reports, so the
      // three api instances the rolling restart replaced a few seconds ago may still be counted.
      assert.ok(status.controlPlane.reporters >= 5 && status.controlPlane.reporters <= 8, `reporters: ${status.controlPlane.reporters}`);
      assert.deepEqual(
        status.services.map((s) => [s.name, s.instances]),
        [
          ['api', 3],
          ['web', 1],
        ],
      );
      for (const s of status.services) {
        assert.ok(s.traffic.rps > 3, `${s.name} serves the demo's traffic: ${s.traffic.rps} rps`);
        assert.equal(s.traffic.successRate, 1);
      }
      assert.deepEqual(status.warnings, []);
      const text = await hyphae(['status']);
      assert.match(text, /^Control plane {2}https:\/\/127\.0\.0\.1:\d+ {2}ok/);
      assert.match(text, /^api\s+3\s+/m);
    });

    /**
     * Until every api instance the demo started has sent its first stats report (every 2 s; the rolling restart
     * started the current ones moments before the demo said it was ready, so on a busy machine they may not
     * have reported yet). The control plane's own view is the event: `unknown` until the first report.
     */
    async function apiInstancesReport(): Promise<void> {
      const ids = demo.instances.filter((x) => x.service === 'api').map((x) => x.id!);
      const started = Date.now();
      let last = '';
      while (Date.now() - started < 30_000) {
        const view = JSON.parse(await hyphae(['describe', 'service', 'api', '--json'])) as { instances: { id: string; health: string }[] };
        last = JSON.stringify(view.instances.map((i) => [i.id, i.health]));
        if (ids.every((id) => view.instances.some((i) => i.id === id && i.health === 'reporting'))) return;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`the api instances ${ids.join(', ')} did not all report stats within 30 s: ${last}`);
    }

    it('hyphae describe service api shows the instances reporting, the caller, the route and the policy', async () => {
      await apiInstancesReport();
      const out = await hyphae(['describe', 'service', 'api']);
      console.log(out);
      for (const i of demo.instances.filter((x) => x.service === 'api')) assert.match(out, new RegExp(`${i.id!.replace(/\./g, '\\.')}\\s+default\\s+-\\s+v\\d\\s+reporting`));
      assert.match(out, /Callers \(inbound edges\):\n.*\n\s+web\s+api\s+[\d.]+/);
      assert.match(out, /Routes: +default\/api \[api-default -> api \(1\)\]/);
      assert.match(out, /Policies: +default\/api-from-web ALLOW \(1 rules\)/);
    });

    it('a real Prometheus scrapes http_client_request_duration_seconds with the mesh attributes from web', async () => {
      // The JS exporter leaves the unit out of the name; Prometheus's convention (and the OTel
      // compatibility spec) put it in as a suffix, so the scrape adds `_seconds` to the duration histograms.
      const prom = await startPrometheus(`  - job_name: hyphae-web
    static_configs:
      - targets: ['127.0.0.1:${new URL(demo.metrics).port}']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: '(http_(?:client|server)_request_duration)(_bucket|_sum|_count)'
        target_label: __name__
        replacement: '\${1}_seconds\${2}'
`);
      try {
        const query = 'http_client_request_duration_seconds_count{server_address="api"}';
        // Bounded only against a stall: the first scrapes come within seconds.
        const result = await prom.until(query, (r) => r.length > 0);
        console.log(`prometheus ${prom.url}: ${query}\n${result.map((r) => `  ${JSON.stringify(r.metric)} = ${r.value[1]}`).join('\n')}`);
        assert.ok(result.length > 0, 'Prometheus has the series');
        const ok = result.find((r) => r.metric.http_response_status_code === '200')!;
        assert.equal(ok.metric.job, 'hyphae-web');
        assert.equal(ok.metric.hyphae_route, 'api-default', 'the Route rule that matched, never a raw path');
        assert.equal(ok.metric.hyphae_outcome, 'success');
        assert.equal(ok.metric.http_request_method, 'GET');
        assert.equal(ok.metric.otel_scope_name, 'hyphae');
        assert.ok(Number(ok.value[1]) > 0);
        // The histogram's buckets are the semconv ones.
        const les = (await prom.query('count by (le) (http_client_request_duration_seconds_bucket)')).map((r) => (r.metric.le === '+Inf' ? Infinity : Number(r.metric.le))).sort((x, y) => x - y);
        assert.deepEqual(les, [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, Infinity]);
      } finally {
        await prom.stop();
      }
    });

    it('the dashboard honours ?window=30 and says why it cannot show the mesh: no token, a wrong token', async () => {
      const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-chromium-'));
      let context: BrowserContext | undefined;
      try {
        context = await launchChromium(userDataDir);
        const page = await context.newPage();
        const streams: number[] = [];
        page.on('response', (r) => r.url().includes('/v1/stats/stream') && streams.push(r.status()));

        // The documented `?window=30`: the page loads (it answered 400 before) and asks for the 30 s summary.
        await gotoSteadily(page, `${demo.controlPlane}/ui?window=30#token=${demo.token}`);
        // A stall ceiling: the page's stream retries every 2 s, and a network change beside it (the multi-cluster
        // tests' namespaces) can cost it a few tries.
        await waitForLive(page);
        await page.waitForFunction(() => document.getElementById('window')?.textContent === '(last 30s)', undefined, { timeout: 10_000 });
        const served = await page.evaluate(() => (window as unknown as { hyphaeDashboard: { summary: { windowSeconds: number } } }).hyphaeDashboard.summary.windowSeconds);
        assert.equal(served, 30);

        // No token on a secure control plane: one refused stream, then a message naming what to do, not "reconnecting…" for ever.
        streams.length = 0;
        await gotoSteadily(page, `${demo.controlPlane}/ui`);
        await page.waitForFunction(() => /needs a token/.test(document.getElementById('live')?.textContent ?? ''), undefined, { timeout: 10_000 });
        assert.match((await page.textContent('#live')) ?? '', /hyphae token create --viewer/);
        // A wrong token: said so, and the page stops asking. (A fragment-only change does not reload the page.)
        await gotoSteadily(page, `${demo.controlPlane}/ui#token=not-a-token`);
        await page.reload();
        await page.waitForFunction(() => /token not valid/.test(document.getElementById('live')?.textContent ?? ''), undefined, { timeout: 10_000 });
        // The page gave up (it would otherwise retry every 2 s): a refusal is final until the link changes.
        assert.match(String(await page.evaluate(() => (window as unknown as { hyphaeDashboard: { stopped?: string } }).hyphaeDashboard.stopped)), /token not valid/);
        assert.ok(streams.length >= 2 && streams.every((s) => s === 401), `each page's one stream was refused with 401: ${streams.join(',')}`);
      } finally {
        await context?.close();
        await rm(userDataDir, { recursive: true, force: true });
      }
    });
  });

  it('the dashboard in Chromium shows services and edges with numbers, updates live, and shows a killed instance leave within 5 s', async () => {
    const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await launchChromium(userDataDir, { width: 1400, height: 1250 });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      // The URL the demo prints: the token rides in the fragment, which never leaves the browser.
      await gotoSteadily(page, demo.dashboard);
      await waitForLive(page);
      await page.waitForFunction(() => document.querySelectorAll('#edges tr[data-edge]').length === 2, undefined, { timeout: 10_000 });
      // The demo's control plane runs without --cluster: every instance is in the default cluster, and says so.
      assert.equal(await page.textContent('#cluster'), 'cluster default');
      const clusters = await page.$$eval('#instances tr[data-instance] td[data-field="cluster"]', (tds) => tds.map((td) => td.textContent));
      assert.ok(clusters.length > 0 && clusters.every((c) => c === 'default'), JSON.stringify(clusters));

      const rows = await page.$$eval('#edges tr[data-edge]', (trs) =>
        trs.map((tr) => Object.fromEntries([['edge', tr.getAttribute('data-edge')], ...[...tr.querySelectorAll('td[data-field]')].map((td) => [td.getAttribute('data-field'), td.textContent])])),
      );
      console.log(`dashboard edges: ${JSON.stringify(rows)}`);
      for (const edge of ['default/demo>default/web', 'default/web>default/api']) {
        const r = rows.find((x) => x.edge === edge)!;
        assert.ok(r, `${edge} is shown`);
        assert.ok(Number(r.rps) > 0, `${edge}: rps shown`);
        assert.match(String(r.success), /^100(\.0)?%$/);
        assert.match(String(r.p99), /ms$/);
      }
      // The graph: one node per service (and the demo process, a caller), one labelled edge per pair.
      const graph = await page.evaluate(() => {
        const cy = (
          window as unknown as {
            hyphaeDashboard: { cy: { nodes(): { map(f: (n: { id(): string }) => string): string[] }; edges(): { map(f: (e: { data(k: string): string }) => string): string[] } } };
          }
        ).hyphaeDashboard.cy;
        return {
          nodes: cy
            .nodes()
            .map((n) => n.id())
            .sort(),
          edges: cy.edges().map((e) => `${e.data('id')} ${e.data('label')}`),
        };
      });
      console.log(`graph: ${JSON.stringify(graph)}`);
      assert.deepEqual(graph.nodes, ['default/api', 'default/demo', 'default/web']);
      assert.equal(graph.edges.length, 2);
      for (const e of graph.edges) assert.match(e, / [\d.]+ rps · \d+(\.\d)?% · p99 [\d.]+ ms$/);

      // Live: the page gets new summaries without reloading (a marker set in the page survives).
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
      const first = await page.evaluate(() => (window as unknown as { hyphaeDashboard: { summary: { generatedAt: string } } }).hyphaeDashboard.summary.generatedAt);
      await page.waitForFunction((g) => (window as unknown as { hyphaeDashboard: { summary: { generatedAt: string } } }).hyphaeDashboard.summary.generatedAt !== g, first, { timeout: 5_000 });

      // The last 15 minutes: a small chart per edge, fed by /v1/stats/history (a point per 15 s step; the demo
      // has run for more than a step by now, and the wait only catches a page that never draws one).
      await page.waitForFunction(
        () =>
          ['default/demo>default/web', 'default/web>default/api'].every(
            (e) => Number((document.querySelector(`#edges tr[data-edge="${e}"] svg.spark.rps`) as { getAttribute(name: string): string | null } | null)?.getAttribute('data-points') ?? 0) >= 1,
          ),
        undefined,
        { timeout: 40_000 },
      );
      const trends = await page.$$eval('#edges tr[data-edge] svg.spark', (svgs) => svgs.map((s) => `${s.getAttribute('class')}: ${s.querySelector('title')?.textContent}`));
      console.log(`dashboard trends: ${JSON.stringify(trends)}`);
      assert.ok(
        trends.some((t) => /^spark rps: rps: now [\d.]+, min/.test(t)),
        trends.join('\n'),
      );
      assert.ok(
        trends.some((t) => /^spark success: success: now 100%/.test(t)),
        trends.join('\n'),
      );

      const shot = process.env.HYPHAE_UPDATE_SCREENSHOT ? path.join(repoRoot, 'docs/dashboard.png') : path.join(repoRoot, 'build/test-artifacts/dashboard.png');
      await mkdir(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot: ${shot}`);

      // Drill-down: a click on api's row shows its instances, its callers with their mTLS state, the route and
      // policy that name it and its recent changes (the demo's registrations and rolling restart).
      await page.click('#services tr[data-service="default/api"]');
      await page.waitForFunction(() => document.querySelectorAll('#details-changes tr[data-change]').length > 0, undefined, { timeout: 10_000 });
      const details = await page.$$eval('#details table', (tables) =>
        tables.map((t) => [t.getAttribute('id'), [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((c) => c.textContent).join(' | '))]),
      );
      console.log(`details of api: ${JSON.stringify(details)}`);
      const rowsOf = (id: string) => (details.find(([t]) => t === id)?.[1] ?? []) as string[];
      const apiIds = demo.instances.filter((i) => i.service === 'api').map((i) => i.id!);
      assert.deepEqual(
        rowsOf('details-instances')
          .map((r) => r.split(' | ')[0])
          .sort(),
        [...apiIds].sort(),
      );
      assert.ok(
        rowsOf('details-callers').some((r) => /^web \| api \| .* \| mTLS$/.test(r)),
        rowsOf('details-callers').join('\n'),
      );
      assert.ok(
        rowsOf('details-config').some((r) => r.startsWith('Route | api')) && rowsOf('details-config').some((r) => r.startsWith('AuthorizationPolicy | api-from-web')),
        rowsOf('details-config').join('\n'),
      );
      assert.ok(
        rowsOf('details-changes').some((r) => r.includes('instance registered | api')),
        rowsOf('details-changes').join('\n'),
      );
      // The demo's Route for api has one rule: web's calls go through it.
      assert.ok(
        rowsOf('details-route-traffic').some((r) => /^api \| api-default \| [\d.]+ \| 100%/.test(r)),
        rowsOf('details-route-traffic').join('\n'),
      );
      const detailsShot = process.env.HYPHAE_UPDATE_SCREENSHOT ? path.join(repoRoot, 'docs/dashboard-details.png') : path.join(repoRoot, 'build/test-artifacts/dashboard-details.png');
      await page.screenshot({ path: detailsShot, fullPage: true });
      console.log(`screenshot: ${detailsShot}`);
      await page.click('#services tr[data-service="default/api"]');
      await page.waitForSelector('#details', { state: 'hidden', timeout: 5_000 });

      // Kill one api instance outright (no drain): its lease lapses and the page drops it, no reload.
      const victim = demo.instances.find((i) => i.service === 'api')!;
      const killedAt = performance.now();
      process.kill(victim.pid, 'SIGKILL');
      await page.waitForFunction((id) => !document.querySelector(`#instances tr[data-instance="${id}"]`), victim.id!, { timeout: 5_000 });
      const seconds = (performance.now() - killedAt) / 1000;
      console.log(`killed instance ${victim.id} (pid ${victim.pid}) left the dashboard after ${seconds.toFixed(2)} s`);
      assert.ok(seconds <= 5);
      assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), 42, 'no reload');
      assert.equal(await page.$eval('#services tr[data-service="default/api"] td[data-field="instances"]', (td) => td.textContent), '2');
      // Routes and policies from the stored configuration.
      assert.match(await page.$eval('#routes tbody', (t) => t.textContent ?? ''), /api.*api-default → api/);
      assert.match(await page.$eval('#policies tbody', (t) => t.textContent ?? ''), /api-from-webALLOWapi1/);
      assert.deepEqual(errors, [], 'no errors in the page');
    } finally {
      await context?.close();
      await rm(userDataDir, { recursive: true, force: true });
    }
  });
});
