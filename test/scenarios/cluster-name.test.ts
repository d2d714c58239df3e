/**
 * Issue 17's cluster name, end to end: a real control plane started with `--cluster dc1` names it on every
 * answer; a mesh learns it (mesh.cluster, onCluster, its endpoints), its spans and metrics carry it on both
 * sides of a call, `hyphae status`, `get instances` and `describe` show it, and so does the dashboard in
 * headless Chromium. What it sends a client older than clusters still parses with that client's strict
 * schemas, and a malformed `--cluster` stops the control plane before it listens.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { BrowserContext } from 'playwright-core';
import { gotoSteadily, launchChromium, waitForLive } from '../helpers/chromium.js';
import { instanceSchema, registerResponseSchema } from '../../src/config/instance.js';
import { serviceSnapshotSchema, watchHelloSchema } from '../../src/config/wire.js';
import { Mesh } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { call, makeTempDir, startControlPlane, Watcher, type RunningControlPlane } from '../helpers/control-plane.js';

// The browser globals used inside page.waitForFunction callbacks (this project compiles without the DOM lib).
declare const document: { getElementById(id: string): { textContent: string | null } | null };

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** A client built before clusters: the same strict schemas without the field (an unknown key fails them). */
const olderInstance = instanceSchema.omit({ cluster: true });
const olderSnapshot = serviceSnapshotSchema.extend({ instances: olderInstance.array() });
const olderRegisterResponse = registerResponseSchema.extend({ instance: olderInstance });

describe('a control plane started with --cluster dc1', { timeout: 240_000 }, () => {
  let cp: RunningControlPlane;
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const meshes: Mesh[] = [];
  let web: Mesh;
  const heard: string[] = [];

  before(async () => {
    cp = await startControlPlane({ args: ['--cluster', 'dc1'] });
    const api = new Mesh({ ...(await cp.meshOptions('api')), server: { drainDelayMs: 0 }, telemetry: { tracerProvider, meterProvider } });
    meshes.push(api);
    const server = api.wrapServer(http.createServer((_req, res) => res.end('ok')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    assert.ok(await api.registered(server), 'api is registered');
    web = new Mesh({ ...(await cp.meshOptions('web')), telemetry: { tracerProvider, meterProvider } });
    meshes.push(web);
    // Before the start: a listener added to a mesh that has not reached its control plane hears the name once learnt.
    web.onCluster((c) => heard.push(c));
    assert.equal(web.cluster, undefined, 'unknown before the start');
    await web.start();
  });

  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
    await cp?.stop();
  });

  it('names it on its answers and in /v1/health and /v1/services; an older client parses the watch stream and registration as before', async () => {
    const health = await call<{ cluster: string }>(cp.url, 'GET', '/v1/health');
    assert.equal(health.headers['hyphae-cluster'], 'dc1');
    assert.equal(health.body.cluster, 'dc1');
    const services = await call<{ cluster: string }>(cp.url, 'GET', '/v1/services');
    assert.equal(services.body.cluster, 'dc1');
    const refused = await call(cp.url, 'GET', '/v1/services', undefined, { token: 'not-a-token' });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['hyphae-cluster'], 'dc1', 'an error answer names it too');

    const registered = await call(cp.url, 'POST', '/v1/instances', { service: 'legacy', address: '127.0.0.1', port: 7001 });
    assert.equal(registered.status, 201, registered.text);
    assert.equal(registered.headers['hyphae-cluster'], 'dc1');
    const parsed = olderRegisterResponse.safeParse(registered.body);
    assert.ok(parsed.success, `an older client reads the registration: ${parsed.success ? '' : parsed.error.message}`);

    const w = await Watcher.open(cp.url, ['legacy']);
    try {
      assert.equal(w.headers['hyphae-cluster'], 'dc1');
      assert.ok(watchHelloSchema.safeParse(w.hello).success, 'the hello has no new field');
      const snap = await w.waitForService('legacy', (s) => s.instances.length === 1, 30_000);
      const wire: Record<string, unknown> = { ...snap };
      delete wire.at;
      delete wire.index;
      const older = olderSnapshot.safeParse(wire);
      assert.ok(older.success, `an older client reads the snapshot: ${older.success ? '' : older.error.message}`);
      // The check can fail: the older schema refuses an instance that carries a cluster (an imported one).
      const imported = { ...(wire.instances as object[])[0], cluster: 'dc2' };
      assert.equal(olderSnapshot.safeParse({ ...wire, instances: [imported] }).success, false);
    } finally {
      await w.close();
    }
  });

  it('the mesh learns it: mesh.cluster, onCluster (heard once), its endpoints', async () => {
    assert.equal(web.cluster, 'dc1');
    assert.deepEqual(heard, ['dc1']);
    assert.equal(await (await web.request('http://api/items')).body.text(), 'ok');
    assert.deepEqual(
      web.endpoints('api').map((e) => e.cluster),
      ['dc1'],
    );
  });

  it('a span and a metric of each side carry it', async () => {
    assert.equal(await (await web.request('http://api/again')).body.text(), 'ok');
    const deadline = Date.now() + 5_000;
    const find = () => {
      const spans = exporter.getFinishedSpans();
      return {
        client: spans.find((s) => s.kind === SpanKind.CLIENT && s.attributes['hyphae.service'] === 'web' && s.attributes['url.full'] === 'http://api/again'),
        server: spans.find((s) => s.kind === SpanKind.SERVER && s.attributes['hyphae.service'] === 'api' && s.attributes['url.path'] === '/again'),
      };
    };
    while ((!find().client || !find().server) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const { client, server } = find();
    assert.ok(
      client && server,
      `both spans: ${exporter
        .getFinishedSpans()
        .map((s) => `${SpanKind[s.kind]} ${JSON.stringify(s.attributes)}`)
        .join('\n')}`,
    );
    assert.equal(client.attributes['hyphae.cluster'], 'dc1');
    assert.equal(client.attributes['hyphae.destination.cluster'], 'dc1');
    assert.equal(server.attributes['hyphae.cluster'], 'dc1');

    const { resourceMetrics } = await reader.collect();
    const metric = (name: string) => resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name) as HistogramMetricData | undefined;
    const clientSeries = metric('http.client.request.duration')?.dataPoints.filter((p) => p.attributes['server.address'] === 'api') ?? [];
    assert.ok(clientSeries.length > 0, 'the client duration is recorded');
    assert.ok(
      clientSeries.every((p) => p.attributes['hyphae.destination.cluster'] === 'dc1'),
      JSON.stringify(clientSeries.map((p) => p.attributes)),
    );
    const serverSeries = metric('http.server.request.duration')?.dataPoints ?? [];
    assert.ok(serverSeries.length > 0, 'the server duration is recorded');
    assert.ok(
      serverSeries.every((p) => p.attributes['hyphae.cluster'] === 'dc1'),
      JSON.stringify(serverSeries.map((p) => p.attributes)),
    );
  });

  it('hyphae status, get instances and describe show it', async () => {
    const status = await runCli(['status', ...cp.cliFlags]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Cluster\s+dc1$/m);
    const json = await runCli(['status', '-o', 'json', ...cp.cliFlags]);
    assert.equal((JSON.parse(json.stdout) as { controlPlane: { cluster: string } }).controlPlane.cluster, 'dc1');

    const table = await runCli(['get', 'instances', 'api', ...cp.cliFlags]);
    assert.equal(table.code, 0, table.stderr);
    const [head, row] = table.stdout.trimEnd().split('\n');
    assert.match(head!, /^NAMESPACE\s+SERVICE\s+INSTANCE\s+CLUSTER\s+/);
    assert.match(row!, /^default\s+api\s+\S+\s+dc1\s+/);
    const data = JSON.parse((await runCli(['get', 'instances', 'api', '-o', 'json', ...cp.cliFlags])).stdout) as { instances: { cluster?: string }[] };
    assert.deepEqual(
      data.instances.map((i) => i.cluster),
      ['dc1'],
    );

    const describe = await runCli(['describe', 'service', 'api', ...cp.cliFlags]);
    assert.equal(describe.code, 0, describe.stderr);
    assert.match(describe.stdout, /^Cluster\s+dc1$/m);
    assert.match(describe.stdout, /^\s+INSTANCE\s+CLUSTER\s+ZONE/m);
    assert.match(describe.stdout, /^\s+127\.0\.0\.1:\d+\s+dc1\s/m);
  });

  it('the dashboard shows it, and on each instance', async () => {
    const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await launchChromium(userDataDir);
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await gotoSteadily(page, `${cp.url}/ui#token=${cp.adminToken!}`);
      await waitForLive(page);
      await page.waitForFunction(() => document.getElementById('cluster')?.textContent === 'cluster dc1', undefined, { timeout: 30_000 });
      await page.waitForSelector('#instances tr[data-instance] td[data-field="cluster"]', { timeout: 30_000 });
      const cells = await page.$$eval('#instances tr[data-instance] td[data-field="cluster"]', (tds) => tds.map((td) => td.textContent));
      assert.ok(cells.length >= 1 && cells.every((c) => c === 'dc1'), JSON.stringify(cells));
      // The click fetches the service's details. Chromium aborts a fetch under way when the host's interfaces
      // change (the multi-cluster tests beside this one make and delete network namespaces: seen twice on a busy
      // machine), and the page shows nothing until asked again: a new click every 5 s, for 30 s at most.
      const detailsBy = performance.now() + 30_000;
      for (;;) {
        await page.click('#services tr[data-service="default/api"]');
        const shown = await page.waitForSelector('#details-instances td[data-field="cluster"]', { timeout: 5_000 }).then(
          () => true,
          () => false,
        );
        if (shown || performance.now() > detailsBy) break;
      }
      assert.deepEqual(await page.$$eval('#details-instances td[data-field="cluster"]', (tds) => tds.map((td) => td.textContent)), ['dc1']);
      assert.deepEqual(errors, []);
    } finally {
      await context?.close();
      await rm(userDataDir, { recursive: true, force: true });
    }
  });

  it("a route backend pinned to the mesh's own cluster selects its local instances once the name is learnt", async () => {
    const rule = (pin: string) => ({ matches: [{ headers: [{ name: 'x-pin', value: pin }] }], backendRefs: [{ name: 'api', cluster: pin }] });
    const route = { apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: { name: 'api-pinned', namespace: 'default' }, spec: { parentRefs: [{ name: 'api' }], rules: [rule('dc1'), rule('dc7')] } };
    const applied = await call(cp.url, 'PUT', '/v1/resources', { items: [route] });
    assert.equal(applied.status, 200, applied.text);
    const pinned = (pin: string) => web.request('http://api/items', { headers: { 'x-pin': pin } });
    // The route is in force once a backend of a cluster with no instance says so.
    const deadline = performance.now() + 30_000;
    let refusal: unknown;
    while (refusal === undefined && performance.now() < deadline) {
      try {
        await (await pinned('dc7')).body.text();
        await new Promise((resolve) => setTimeout(resolve, 50));
      } catch (err) {
        refusal = err;
      }
    }
    assert.match(String((refusal as Error)?.message), /in cluster dc7/, 'no instance of api in dc7');
    const home = await pinned('dc1');
    assert.equal(home.statusCode, 200);
    assert.equal(await home.body.text(), 'ok', 'dc1 is this mesh: its own instance of api');
  });
});

describe('a malformed --cluster', () => {
  it('stops the control plane before it listens, saying what a cluster name must be', { timeout: 60_000 }, async () => {
    const dir = await makeTempDir();
    try {
      const run = await runCli(['control-plane', '--port', '0', '--data-dir', dir, '--cluster', 'DC_1']);
      assert.notEqual(run.code, 0);
      assert.doesNotMatch(run.stdout + run.stderr, /listening/);
      assert.match(run.stderr, /cluster: must be a lower-case DNS label/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
