/**
 * What an operator sees, end to end, on a running mesh with live traffic
 * (test/helpers/observability.ts): `hyphae top` and `hyphae status` print the
 * figures the processes reported; a real Prometheus (Debian's) scrapes the
 * web service's OpenTelemetry metrics; the /ui dashboard in headless
 * Chromium shows services and edges with their numbers, updates live, and
 * shows a killed instance leave within 5 s without a reload.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';
import { cliPath, repoRoot } from '../helpers/process.js';
import { startTopology, trafficFlows, type Topology } from '../helpers/observability.js';

const exec = promisify(execFile);

// The browser globals used inside page.evaluate callbacks (this project compiles without the DOM lib).
declare const document: { querySelector(selector: string): unknown; querySelectorAll(selector: string): { length: number } };
declare const window: unknown;

async function hyphae(args: string[], cp: string): Promise<string> {
  const { stdout } = await exec(process.execPath, [cliPath, ...args, '--control-plane', cp], { timeout: 15_000 });
  return stdout;
}

describe('observability of a running mesh', { timeout: 180_000 }, () => {
  let topo: Topology;

  before(async () => {
    topo = await startTopology();
    await topo.waitFor(trafficFlows, 20_000);
  });

  after(async () => {
    await topo?.stop();
  });

  it('hyphae top --once prints live per-edge rps, success rate and latency', async () => {
    const out = await hyphae(['top', '--once'], topo.cp.url);
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
    assert.deepEqual([...rows.keys()].sort(), ['api>db', 'loadgen>web', 'web>api']);
    const load = rows.get('loadgen>web')!;
    assert.ok(load.rps > 5 && load.rps < 25, `loadgen sends 15 rps; top says ${load.rps}`);
    // db-b fails one request in five and gets half the calls: about 10 % of api -> db fail.
    const db = rows.get('api>db')!;
    assert.ok(db.success > 80 && db.success < 97, `api -> db success ${db.success}%`);
    assert.ok(db.p99 >= db.p50, 'p99 is not below p50');

    const json = JSON.parse(await hyphae(['top', '--once', '--json', '--window', '20'], topo.cp.url)) as { windowSeconds: number; edges: { source: string; destination: string; rps: number; successRate: number; p99Ms: number }[] };
    assert.equal(json.windowSeconds, 20);
    const e = json.edges.find((x) => x.source === 'default/web' && x.destination === 'default/api')!;
    assert.ok(e.rps > 0 && e.successRate > 0.5 && e.p99Ms > 0, JSON.stringify(e));
  });

  it('hyphae status --json reports the control plane, the services and the failing edge', async () => {
    const status = JSON.parse(await hyphae(['status', '--json'], topo.cp.url)) as {
      controlPlane: { status: string; instances: number; reporters: number };
      services: { name: string; instances: number; traffic: { rps: number } }[];
      warnings: { kind: string; message: string }[];
    };
    console.log(JSON.stringify({ controlPlane: status.controlPlane, services: status.services.map((s) => [s.name, s.instances, s.traffic.rps]), warnings: status.warnings }, null, 1));
    assert.equal(status.controlPlane.status, 'ok');
    assert.equal(status.controlPlane.instances, 4);
    assert.equal(status.controlPlane.reporters, 5, 'four servers and the load generator report');
    assert.deepEqual(status.services.map((s) => [s.name, s.instances]), [['api', 1], ['db', 2], ['web', 1]]);
    assert.ok(status.services.every((s) => s.traffic.rps > 0));
    assert.ok(status.warnings.some((w) => w.kind === 'edge-errors' && w.message.includes('default/api -> default/db')), JSON.stringify(status.warnings));
    const text = await hyphae(['status'], topo.cp.url);
    assert.match(text, /^Control plane {2}http:\/\/127\.0\.0\.1:\d+ {2}ok/);
    assert.match(text, /\[edge-errors\] default\/api -> default\/db/);
  });

  it('hyphae describe service db shows both instances with zone, version and their own figures', async () => {
    const out = await hyphae(['describe', 'service', 'db'], topo.cp.url);
    console.log(out);
    const a = topo.procs.get('db-a')!.instance!;
    const b = topo.procs.get('db-b')!.instance!;
    assert.match(out, new RegExp(`${a.replace(/\./g, '\\.')}\\s+a\\s+v1\\s+reporting`));
    assert.match(out, new RegExp(`${b.replace(/\./g, '\\.')}\\s+b\\s+v2\\s+reporting`));
    assert.match(out, /Callers \(inbound edges\):\n.*\n\s+api\s+db\s+[\d.]+/);
    assert.match(out, /Config: +\{"loadBalancer":"round_robin","subsets":\[/);
    assert.match(out, /Routes: +default\/db-canary \[db-split -> db:v1 \(90\), db:v2 \(10\)\]/);
    assert.match(out, /Policies: +default\/db-from-api ALLOW \(1 rules\)/);
    const json = JSON.parse(await hyphae(['describe', 'service', 'db', '--json'], topo.cp.url)) as { instances: { id: string; traffic: { successRate: number } }[] };
    const failing = json.instances.find((i) => i.id === b)!;
    assert.ok(failing.traffic.successRate < 0.9, `db-b fails a fifth of its requests: ${failing.traffic.successRate}`);
  });

  it('a real Prometheus scrapes http_client_request_duration_seconds with the mesh attributes', async () => {
    const port = topo.procs.get('web')!.metricsPort!;
    const prom = await startPrometheus(port);
    try {
      const query = 'http_client_request_duration_seconds_count{server_address="api"}';
      let result: { metric: Record<string, string>; value: [number, string] }[] = [];
      const started = Date.now();
      while (Date.now() - started < 20_000) {
        const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(query)}`);
        result = ((await res.json()) as { data: { result: typeof result } }).data.result;
        if (result.length > 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      console.log(`prometheus ${prom.url}: ${query}\n${result.map((r) => `  ${JSON.stringify(r.metric)} = ${r.value[1]}`).join('\n')}`);
      assert.ok(result.length > 0, 'Prometheus has the series');
      const ok = result.find((r) => r.metric.http_response_status_code === '200')!;
      assert.equal(ok.metric.job, 'hyphae-web');
      assert.equal(ok.metric.hyphae_route, 'api-default');
      assert.equal(ok.metric.hyphae_outcome, 'success');
      assert.equal(ok.metric.http_request_method, 'GET');
      assert.ok(Number(ok.value[1]) > 0);
      // The histogram's buckets are the semconv ones.
      const buckets = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent('count by (le) (http_client_request_duration_seconds_bucket)')}`);
      const les = ((await buckets.json()) as { data: { result: { metric: { le: string } }[] } }).data.result.map((r) => (r.metric.le === '+Inf' ? Infinity : Number(r.metric.le))).sort((x, y) => x - y);
      assert.deepEqual(les, [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, Infinity]);
    } finally {
      await prom.stop();
    }
  });

  it('the dashboard in Chromium shows services and edges with numbers, updates live, and shows a killed instance leave within 5 s', async () => {
    const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1400, height: 1250 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`${topo.cp.url}/ui`);
      await page.waitForSelector('#live.on', { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelectorAll('#edges tr[data-edge]').length === 3, undefined, { timeout: 10_000 });

      const rows = await page.$$eval('#edges tr[data-edge]', (trs) =>
        trs.map((tr) => Object.fromEntries([['edge', tr.getAttribute('data-edge')], ...[...tr.querySelectorAll('td[data-field]')].map((td) => [td.getAttribute('data-field'), td.textContent])])),
      );
      console.log(`dashboard edges: ${JSON.stringify(rows)}`);
      const webApi = rows.find((r) => r.edge === 'default/web>default/api')!;
      assert.ok(Number(webApi.rps) > 0, 'rps shown');
      assert.match(String(webApi.success), /^\d+(\.\d)?%$/);
      assert.match(String(webApi.p99), /ms$/);
      // The graph: one node per service (and the load generator), one labelled edge per pair.
      const graph = await page.evaluate(() => {
        const cy = (window as unknown as { hyphaeDashboard: { cy: { nodes(): { map(f: (n: { id(): string }) => string): string[] }; edges(): { map(f: (e: { data(k: string): string }) => string): string[] } } } }).hyphaeDashboard.cy;
        return { nodes: cy.nodes().map((n) => n.id()).sort(), edges: cy.edges().map((e) => `${e.data('id')} ${e.data('label')}`) };
      });
      console.log(`graph: ${JSON.stringify(graph)}`);
      assert.deepEqual(graph.nodes, ['default/api', 'default/db', 'default/loadgen', 'default/web']);
      assert.equal(graph.edges.length, 3);
      for (const e of graph.edges) assert.match(e, / [\d.]+ rps · \d+(\.\d)?% · p99 [\d.]+ ms$/);

      // Live: the page gets new summaries without reloading (a marker set in the page survives).
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
      const first = await page.evaluate(() => (window as unknown as { hyphaeDashboard: { summary: { generatedAt: string } } }).hyphaeDashboard.summary.generatedAt);
      await page.waitForFunction((g) => (window as unknown as { hyphaeDashboard: { summary: { generatedAt: string } } }).hyphaeDashboard.summary.generatedAt !== g, first, { timeout: 5_000 });

      const shot = process.env.HYPHAE_UPDATE_SCREENSHOT ? path.join(repoRoot, 'docs/dashboard.png') : path.join(repoRoot, 'build/test-artifacts/dashboard.png');
      await mkdir(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot: ${shot}`);

      // Kill one db instance outright (no drain): its lease lapses and the page drops it, no reload.
      const victim = topo.procs.get('db-b')!;
      const killedAt = performance.now();
      await victim.child.kill('SIGKILL');
      await page.waitForFunction((id) => !document.querySelector(`#instances tr[data-instance="${id}"]`), victim.instance!, { timeout: 5_000 });
      const seconds = (performance.now() - killedAt) / 1000;
      console.log(`killed instance ${victim.instance} left the dashboard after ${seconds.toFixed(2)} s`);
      assert.ok(seconds <= 5);
      assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), 42, 'no reload');
      assert.equal(await page.$eval('#services tr[data-service="default/db"] td[data-field="instances"]', (td) => td.textContent), '1');
      // Routes and policies from the stored configuration.
      assert.match(await page.$eval('#routes tbody', (t) => t.textContent ?? ''), /db-canary.*db-split → db:v1 \(90\), db:v2 \(10\)/);
      assert.match(await page.$eval('#policies tbody', (t) => t.textContent ?? ''), /db-from-apiALLOWdb1/);
      assert.deepEqual(errors, [], 'no errors in the page');
    } finally {
      await context?.close();
      await rm(userDataDir, { recursive: true, force: true });
    }
  });
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Debian's prometheus, on loopback, scraping one target every second. */
async function startPrometheus(target: number): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-prom-'));
  // The JS exporter leaves the unit out of the name; Prometheus's convention (and the OTel
  // compatibility spec) put it in as a suffix, so the scrape adds `_seconds` to the duration histograms.
  await writeFile(
    path.join(dir, 'prometheus.yml'),
    `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: hyphae-web
    static_configs:
      - targets: ['127.0.0.1:${target}']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: '(http_(?:client|server)_request_duration)(_bucket|_sum|_count)'
        target_label: __name__
        replacement: '\${1}_seconds\${2}'
`,
  );
  const port = await freePort();
  const proc: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`prometheus did not start:\n${log}`)), 20_000);
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready to receive web requests')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`prometheus exited (${code}):\n${log}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
