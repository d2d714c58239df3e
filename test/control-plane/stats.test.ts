/**
 * Stats on the control plane: the store's windows and rates (fake clock), the
 * summary's instance health, ejections and warnings, the latency histogram's
 * accuracy, and POST /v1/stats on a real control plane fed by the real
 * reporter from real traffic.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { LatencyHistogram } from '../../src/core/latency-histogram.js';
import { MemoryRegistry } from '../../src/control-plane/registry/memory-registry.js';
import { FileStore } from '../../src/control-plane/store/file-store.js';
import { StatsStore } from '../../src/control-plane/stats/stats-store.js';
import { buildSummary, summarySteps, type MeshSummary } from '../../src/control-plane/stats/summary.js';
import { LatencyArena } from '../../src/control-plane/stats/latency-arena.js';
import { drain, jsonInSlices, runSliced } from '../../src/control-plane/stats/sliced.js';
import { createMesh } from '../../src/index.js';
import { call, makeTempDir, percentile, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { hist, report } from '../helpers/stats-reports.js';

describe('latency histogram', () => {
  it('reads percentiles within 10 % of the exact ones', () => {
    const h = new LatencyHistogram();
    const values: number[] = [];
    let seed = 7;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 20_000; i++) {
      const v = Math.exp(rand() * 6) * 0.2; // 0.2 ms .. 80 ms, log-uniform
      values.push(v);
      h.record(v);
    }
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = percentile(values, q * 100);
      const approx = h.quantile(q);
      console.log(`p${q * 100}: exact ${exact.toFixed(3)} ms, histogram ${approx.toFixed(3)} ms`);
      assert.ok(Math.abs(approx - exact) / exact < 0.1, `p${q * 100}`);
    }
    const merged = new LatencyHistogram();
    merged.addSparse(h.toSparse(), h.sum);
    assert.equal(merged.quantile(0.99), h.quantile(0.99), 'the sparse wire form loses nothing');
  });
});

describe('stats store and summary (fake clock)', () => {
  let dir: string;
  let store: FileStore;
  let registry: MemoryRegistry;
  let now = 1_000_000;
  const clock = () => now;

  before(async () => {
    dir = await makeTempDir();
    store = new FileStore(dir);
    await store.load();
    registry = new MemoryRegistry({ defaultTtlSeconds: 300, log: () => {} });
  });

  after(async () => {
    await registry.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('merges reporters per edge, rates over the time covered, and lets a stopped reporter fade', () => {
    const stats = new StatsStore({ now: clock });
    for (let i = 0; i < 5; i++) {
      now += 1000;
      stats.add(report({ reporter: 'web-process-1', service: 'web', edges: [{ destination: 'api', requests: 10, errors: 1, latency: hist(5, 10) }] }));
      stats.add(report({ reporter: 'web-process-2', service: 'web', edges: [{ destination: 'api', requests: 20, errors: 0, latency: hist(50, 20) }] }));
    }
    const [e] = stats.edges(10_000);
    assert.equal(e!.source, 'default/web');
    assert.equal(e!.destination, 'default/api');
    assert.equal(e!.requests, 150);
    assert.equal(e!.errors, 5);
    assert.ok(Math.abs(e!.rps - 30) < 0.01, `10 + 20 rps, got ${e!.rps}`);
    assert.ok(e!.latency.quantile(0.99) > 40 && e!.latency.quantile(0.99) < 60);
    // Both stop; after 10 s of silence they count as gone and their rate falls with the time since.
    now += 10_000;
    const faded = stats.edges(20_000)[0]!;
    assert.ok(faded.rps < 15, `a stopped reporter's rate decays: ${faded.rps}`);
    now += 61_000;
    assert.equal(stats.edges(60_000).length, 0, 'nothing left after the retention');
    assert.equal(stats.size, 0, 'and the reporters are forgotten');
  });

  it('stays bounded under a flood: reports too close together share an entry, budgets drop the rest, counted', () => {
    const drops: string[] = [];
    const stats = new StatsStore({ now: clock, maxEntriesPerReporter: 1_000, maxEntries: 3_000, maxReporters: 50, onDrop: (reason, r) => drops.push(`${reason} ${r.reporter}`) });
    const edge = { destination: 'api', requests: 1, errors: 0, latency: hist(5, 1) };
    // 10 000 reports of one reporter within a second, 9 edges each (10 entries with the report itself).
    let kept = 0;
    for (let i = 0; i < 10_000; i++) {
      if (i % 100 === 0) now += 10;
      if (stats.add(report({ reporter: 'flood-reporter', service: 'web', edges: Array.from({ length: 9 }, () => edge), inbound: { requests: 1, errors: 0, latency: hist(5, 1) } }))) kept++;
    }
    const flood = stats.reporters().find((r) => r.id === 'flood-reporter')!;
    assert.equal(kept, 100, 'its budget: 1 000 entries of 10');
    assert.ok(flood.reports.length <= 10, `one entry per 100 ms: ${flood.reports.length}`);
    assert.equal(flood.entries, 1_000);
    assert.equal(stats.dropped['reporter-full'], 9_900);
    assert.equal(drops.length, 9_900);
    assert.equal(drops[0], 'reporter-full flood-reporter');
    // What was kept is counted exactly, merged entries included.
    assert.equal(stats.edges(10_000)[0]!.requests, 900);
    assert.equal(stats.inbound(flood, 10_000).requests, 100);
    // Reporters with ids of their choosing: at most 50 of them, and no more than the store's budget.
    for (let i = 0; i < 1_000; i++) stats.add(report({ reporter: `reporter-${i}`, service: 'web', edges: Array.from({ length: 99 }, () => edge) }));
    assert.ok(stats.size <= 50, `reporters: ${stats.size}`);
    assert.ok(stats.entries <= 3_000, `entries: ${stats.entries}`);
    assert.equal(stats.dropped['store-full'], 1_000 - (stats.size - 1));
    // Once the flood is past the retention, room again.
    now += 61_000;
    assert.equal(stats.add(report({ reporter: 'later-reporter', service: 'web', edges: [edge] })), true);
    assert.equal(stats.entries, 2);
  });

  it('a steady reporter and its last report as it closes lose nothing', () => {
    const stats = new StatsStore({ now: clock, maxEntriesPerReporter: 1_000 });
    const edge = { destination: 'api', requests: 5, errors: 0, latency: hist(5, 5) };
    for (let i = 0; i < 30; i++) {
      now += 250;
      assert.equal(stats.add(report({ reporter: 'steady-reporter', service: 'web', intervalMs: 250, edges: [edge] })), true);
    }
    now += 20;
    assert.equal(stats.add(report({ reporter: 'steady-reporter', service: 'web', intervalMs: 20, edges: [edge] })), true);
    assert.equal(stats.reporters()[0]!.reports.length, 30, 'the closing report joined the last entry');
    assert.equal(stats.edges(60_000)[0]!.requests, 155);
    assert.deepEqual(stats.dropped, { 'reporter-full': 0, 'store-full': 0 });
  });

  it('the summary: instance health, ejections seen by callers, certificate and config warnings', () => {
    const stats = new StatsStore({ now: clock });
    const a = registry.register({ service: 'db', namespace: 'default', address: '127.0.0.1', port: 7001, labels: { zone: 'a', version: 'v1' }, weight: 1 });
    const b = registry.register({ service: 'db', namespace: 'default', address: '127.0.0.1', port: 7002, labels: { zone: 'b', version: 'v2' }, weight: 1 });
    stats.add(
      report({
        reporter: 'db-process-a',
        service: 'db',
        instances: [a.instance.id],
        inbound: { requests: 40, errors: 0, latency: hist(2, 40) },
        certificate: { spiffeId: 'spiffe://t/ns/default/sa/db', notBefore: new Date(now - 20 * 3600_000).toISOString(), notAfter: new Date(now + 3600_000).toISOString() },
      }),
    );
    stats.add(report({ reporter: 'db-process-b', service: 'db', instances: [b.instance.id], inbound: { requests: 10, errors: 5, latency: hist(2, 10) } }));
    stats.add(
      report({
        reporter: 'api-process-1',
        service: 'api',
        endpoints: [
          { service: 'db', id: a.instance.id, state: 'healthy' },
          { service: 'db', id: b.instance.id, state: 'ejected' },
        ],
        configErrors: [{ service: 'db', message: 'route db-split names subset v3, which does not exist' }],
      }),
    );
    const s: MeshSummary = buildSummary({ registry, store, stats, now: clock }, 10_000);
    const ia = s.instances.find((i) => i.id === a.instance.id)!;
    const ib = s.instances.find((i) => i.id === b.instance.id)!;
    assert.deepEqual([ia.health, ia.zone, ia.version, ia.ejectedBy, ia.observedBy], ['reporting', 'a', 'v1', 0, 1]);
    assert.deepEqual([ib.health, ib.ejectedBy, ib.observedBy], ['reporting', 1, 1]);
    assert.equal(ia.traffic.rps, 40);
    assert.equal(ib.traffic.successRate, 0.5);
    assert.equal(ia.certificate!.expiresInSeconds, 3600);
    assert.equal(s.services.find((x) => x.name === 'db')!.traffic.requests, 50);
    const kinds = s.warnings.map((w) => w.kind).sort();
    assert.deepEqual(kinds, ['certificate-expiring', 'config-rejected']);
    assert.match(s.warnings.find((w) => w.kind === 'config-rejected')!.message, /api refused the configuration of db: route db-split/);

    // db-process-b goes quiet while its instance stays registered: a warning.
    now += 6_000;
    stats.add(report({ reporter: 'db-process-a', service: 'db', instances: [a.instance.id] }));
    const later = buildSummary({ registry, store, stats, now: clock }, 10_000);
    assert.equal(later.instances.find((i) => i.id === b.instance.id)!.health, 'silent');
    assert.ok(later.warnings.some((w) => w.kind === 'instance-silent' && w.instance === b.instance.id));
  });

  it("a service's traffic across a rolling restart: what the replaced instances served counts, at the service's real rate", () => {
    const stats = new StatsStore({ now: clock });
    const reg = new MemoryRegistry({ defaultTtlSeconds: 300, log: () => {} });
    try {
      const old = reg.register({ service: 'shop', namespace: 'default', address: '127.0.0.1', port: 7101, labels: {}, weight: 1 });
      // 20 rps for 8 s on the old instance; it deregisters; its replacement takes the same 20 rps for 2 s.
      for (let i = 0; i < 8; i++) {
        now += 1000;
        stats.add(report({ reporter: 'shop-process-old', service: 'shop', instances: [old.instance.id], inbound: { requests: 20, errors: 0, latency: hist(2, 20) } }));
      }
      reg.deregister(old.leaseId);
      const fresh = reg.register({ service: 'shop', namespace: 'default', address: '127.0.0.1', port: 7102, labels: {}, weight: 1 });
      for (let i = 0; i < 2; i++) {
        now += 1000;
        stats.add(report({ reporter: 'shop-process-new', service: 'shop', instances: [fresh.instance.id], inbound: { requests: 20, errors: 0, latency: hist(2, 20) } }));
      }
      const s = buildSummary({ registry: reg, store, stats, now: clock }, 10_000);
      const shop = s.services.find((x) => x.name === 'shop')!.traffic;
      assert.equal(shop.requests, 200);
      assert.ok(Math.abs(shop.rps - 20) < 0.01, `20 rps throughout; the service shows ${shop.rps}`);
      assert.ok(Math.abs(s.instances.find((i) => i.id === fresh.instance.id)!.traffic.rps - 20) < 0.01, 'the new instance: its own rate');

      // A new service whose only process serves two instances (ports): counted once, over the 2 s it has run.
      const ports = [7201, 7202].map((port) => reg.register({ service: 'cart', namespace: 'default', address: '127.0.0.1', port, labels: {}, weight: 1 }).instance.id);
      for (let i = 0; i < 2; i++) {
        now += 1000;
        stats.add(report({ reporter: 'cart-process-1', service: 'cart', instances: ports, inbound: { requests: 10, errors: 1, latency: hist(2, 10) } }));
      }
      const cart = buildSummary({ registry: reg, store, stats, now: clock }, 10_000).services.find((x) => x.name === 'cart')!.traffic;
      assert.deepEqual([cart.requests, cart.rps, cart.successRate], [20, 10, 0.9]);
    } finally {
      void reg.close();
    }
  });
});

describe('summaries of a big store, built in slices', () => {
  it('arena histograms read the quantiles LatencyHistogram reads, across growth and reuse', () => {
    let seed = 11;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const reference: LatencyHistogram[] = [];
    for (let round = 0; round < 2; round++) {
      // 600 histograms: past the arena's first size (256), so it grows; the second round reuses it, dirty.
      const arena = LatencyArena.acquire();
      const merged = Array.from({ length: 600 }, () => arena.histogram());
      for (let i = 0; i < 600; i++) {
        const h = (reference[i] = new LatencyHistogram());
        for (let part = 0; part < 3; part++) {
          const sparse = new LatencyHistogram();
          for (let k = 0; k < 20; k++) sparse.record(Math.exp(rand() * 8) * 0.05);
          h.addSparse(sparse.toSparse());
          merged[i]!.addSparse(sparse.toSparse());
        }
      }
      // A histogram added into another (a service's instances) reads as the sum.
      const sum = arena.histogram();
      sum.add(merged[0]!);
      sum.add(merged[599]!);
      const both = new LatencyHistogram();
      both.add(reference[0]!);
      both.add(reference[599]!);
      for (let i = 0; i < 600; i++) assert.deepEqual(merged[i]!.quantiles(0.5, 0.99), [reference[i]!.quantile(0.5), reference[i]!.quantile(0.99)], `histogram ${i}, round ${round}`);
      assert.deepEqual(sum.quantiles(0.01, 0.5, 1), [both.quantile(0.01), both.quantile(0.5), both.quantile(1)]);
      assert.ok(Number.isNaN(arena.histogram().quantile(0.5)), 'empty');
      arena.release();
    }
  });

  it("in slices or at once, the same summary; its JSON in slices is JSON.stringify's", async () => {
    const dir = await makeTempDir();
    const store = new FileStore(dir);
    await store.load();
    const registry = new MemoryRegistry({ defaultTtlSeconds: 300, log: () => {} });
    try {
      let now = 5_000_000;
      const clock = () => now;
      const stats = new StatsStore({ now: clock });
      // 1 200 instances and 1 500 edges: more than a JSON slice (500 items) of each.
      for (let i = 0; i < 1_200; i++) {
        const { instance } = registry.register({ service: `svc-${i % 30}`, namespace: 'default', address: '127.0.0.1', port: 10_000 + i, labels: {}, weight: 1 });
        now += 5;
        stats.add(
          report({
            reporter: `reporter-${i}`,
            service: `svc-${i % 30}`,
            instances: [instance.id],
            inbound: { requests: 4, errors: i % 7 === 0 ? 1 : 0, latency: hist(1 + (i % 50), 4) },
            edges: Array.from({ length: 50 }, (_, e) => ({ destination: `dst-${e}`, requests: 2, errors: 0, latency: hist(1 + e, 2) })),
          }),
        );
      }
      const deps = { registry, store, stats, now: clock };
      const whole = buildSummary(deps, 30_000);
      assert.equal(whole.instances.length, 1_200);
      assert.equal(whole.edges.length, 1_500);
      // Slices of 0 ms: the event loop gets a turn at every yield.
      assert.deepEqual(await runSliced(summarySteps(deps, 30_000), 0), whole);
      let yields = 0;
      for (const gen = summarySteps(deps, 30_000); !gen.next().done;) yields++;
      assert.ok(yields > 2_700, `it yields after each instance and edge: ${yields} times`);
      assert.equal(drain(jsonInSlices(whole)), JSON.stringify(whole));
      assert.equal(
        await runSliced(jsonInSlices({ a: [], b: Array.from({ length: 1_001 }, (_, i) => ({ i })), c: undefined, d: 'x' }), 0),
        JSON.stringify({ a: [], b: Array.from({ length: 1_001 }, (_, i) => ({ i })), d: 'x' }),
      );
    } finally {
      await registry.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('POST /v1/stats on a real control plane', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane();
  });

  after(async () => {
    await cp.stop();
  });

  it('refuses malformed reports with every problem listed', async () => {
    const bad = {
      reporter: 'x',
      intervalMs: 0,
      edges: [{ destination: 'Not A Name', requests: 2, errors: 3, latency: [[999, 1]] }],
      extra: true,
    };
    const res = await call<{ error: { code: string; issues: { path: string }[] } }>(cp.url, 'POST', '/v1/stats', bad);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'HYPHAE_ERR_BAD_REQUEST');
    const paths = res.body.error.issues.map((i) => i.path).sort();
    console.log(`issues: ${paths.join(', ')}`);
    for (const p of ['extra', 'reporter', 'intervalMs', 'edges[0].destination', 'edges[0].latency[0][0]']) assert.ok(paths.includes(p), `${p} in ${paths}`);
    const mismatch = await call<{ error: { issues: { path: string; message: string }[] } }>(cp.url, 'POST', '/v1/stats', {
      reporter: 'reporter-1',
      intervalMs: 1000,
      edges: [{ destination: 'api', requests: 5, errors: 6, latency: [[3, 4]] }],
    });
    assert.equal(mismatch.status, 400);
    assert.deepEqual(mismatch.body.error.issues.map((i) => i.path).sort(), ['edges[0].errors', 'edges[0].latency']);
    const huge = await call(cp.url, 'POST', '/v1/stats', undefined, { raw: `{"reporter":"${'a'.repeat(2 * 1024 * 1024)}"}` });
    assert.equal(huge.status, 413);
    const window = await call(cp.url, 'GET', '/v1/stats/summary?window=0');
    assert.equal(window.status, 400);
  });

  it('meshes report their real traffic: counted exactly per edge and instance, with the certificate; close sends the last report', async () => {
    // Two real meshes on this (secure) control plane: api serves through wrapServer, web calls it.
    const api = await createMesh({ ...(await cp.meshOptions('api')), server: { drainDelayMs: 50 }, telemetry: { statsIntervalMs: 300 } });
    let n = 0;
    const server = api.wrapServer(
      http.createServer((_req, res) => {
        res.statusCode = ++n % 10 === 0 ? 500 : 200;
        setTimeout(() => res.end('ok'), 5);
      }),
    );
    server.listen(0, '127.0.0.1');
    const instance = (await api.registered(server))!.id;
    const web = await createMesh({ ...(await cp.meshOptions('web')), telemetry: { statsIntervalMs: 60_000 } });
    try {
      for (let i = 0; i < 50; i++) {
        const r = await web.request('http://api/');
        await r.body.text();
      }
      // web's interval is a minute: what reaches the control plane now is the report close() sends last.
      await web.close();
      const summary = async () => (await call<MeshSummary>(cp.url, 'GET', '/v1/stats/summary?window=30')).body;
      let s = await summary();
      const e = s.edges.find((x) => x.source === 'default/web' && x.destination === 'default/api')!;
      console.log(`edge: ${JSON.stringify(e)}`);
      assert.equal(e.requests, 50);
      assert.equal(e.errors, 5);
      assert.equal(e.successRate, 0.9);
      assert.ok(e.p50Ms! >= 4 && e.p50Ms! < 60, `p50 ${e.p50Ms} ms for a 5 ms handler`);
      // api reports every 300 ms: its inbound side, as its instance's figures, with its certificate.
      const deadline = Date.now() + 5_000;
      const inbound = () => s.instances.find((i) => i.id === instance)?.traffic.requests ?? 0;
      while (inbound() < 50 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        s = await summary();
      }
      const inst = s.instances.find((i) => i.id === instance)!;
      console.log(`instance: ${JSON.stringify(inst)}`);
      assert.equal(inst.health, 'reporting');
      assert.equal(inst.traffic.requests, 50);
      assert.match(inst.certificate!.spiffeId, /\/ns\/default\/sa\/api$/);
      assert.ok(inst.certificate!.expiresInSeconds > 3600, 'a fresh 24 h certificate');
      assert.equal(s.controlPlane.reporters, 2);
    } finally {
      await web.close();
      await api.close();
    }
  });

  // Last: it leaves a flood in the window, which the tests before count around.
  it('a reporter over its budget is answered 429, and the control plane says so in its log', async () => {
    const edges = Array.from({ length: 999 }, () => ({ destination: 'flood-target', requests: 1, errors: 0, latency: [[3, 1]] }));
    const statuses: number[] = [];
    // 1 000 entries a report (999 edges and the report): the 21st is over the 20 000 a reporter may hold.
    for (let i = 0; i < 21; i++) statuses.push((await call(cp.url, 'POST', '/v1/stats', { reporter: 'flood-reporter-1', service: 'flood', intervalMs: 1000, edges })).status);
    assert.deepEqual(statuses, [...Array<number>(20).fill(204), 429]);
    await cp.child.waitFor(/stats: dropped 1 report\(s\) since the last line \(reporter-full, latest from default\/flood reporter flood-reporter-1\)/, 5_000);
  });
});
