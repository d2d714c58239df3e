/**
 * Per-route traffic in the stats: what a report may say per route rule (schema, caps), what the store
 * holds of it (budgets), and the summary's routeTraffic, on a fake clock and on a real control plane.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { MAX_STATS_ROUTES, MAX_STATS_ROUTES_PER_EDGE } from '../../src/config/stats.js';
import { DEFAULT_ROUTE, OTHER_ROUTES } from '../../src/core/route-keys.js';
import { resourceSchema } from '../../src/config/resources.js';
import { MemoryRegistry } from '../../src/control-plane/registry/memory-registry.js';
import { StatsStore } from '../../src/control-plane/stats/stats-store.js';
import { buildSummary } from '../../src/control-plane/stats/summary.js';
import { FileStore } from '../../src/control-plane/store/file-store.js';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { hist, report } from '../helpers/stats-reports.js';

const row = (route: string, rule: string | undefined, requests: number, errors = 0, ms = 2) => ({ route, ...(rule !== undefined && { rule }), requests, errors, latency: hist(ms, requests) });

describe('per-route stats in the store and the summary (fake clock)', () => {
  let dir: string;
  let store: FileStore;
  let registry: MemoryRegistry;
  const now = 5_000_000;
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

  it('adds up each rule over every caller, sorted by destination with [default] and [other] after the routes; route rows count against the budgets', async () => {
    await store.apply([
      resourceSchema.parse({
        apiVersion: 'hyphae.dev/v1',
        kind: 'Route',
        metadata: { name: 'api-routes', namespace: 'default' },
        spec: {
          parentRefs: [{ name: 'api' }],
          rules: [{ name: 'items', matches: [{ path: { type: 'PathPrefix', value: '/items' } }], backendRefs: [{ name: 'api' }] }, { backendRefs: [{ name: 'api' }] }],
        },
      }),
    ]);
    const stats = new StatsStore({ now: clock, maxEntriesPerReporter: 12 });
    const web = (requests: number) => ({
      destination: 'api',
      requests: requests + 4,
      errors: 1,
      latency: hist(2, requests + 4),
      routes: [row('default/api-routes', 'items', requests, 1), row('default/api-routes', 'api-routes.1', 3), row(DEFAULT_ROUTE, undefined, 1)],
    });
    assert.equal(stats.add(report({ reporter: 'web-process-1', service: 'web', edges: [web(10)] })), true);
    assert.equal(stats.add(report({ reporter: 'web-process-2', service: 'web', edges: [web(20)] })), true);
    assert.equal(
      stats.add(
        report({
          reporter: 'admin-process',
          service: 'admin',
          edges: [{ destination: 'api', requests: 6, errors: 0, latency: hist(30, 6), routes: [row('default/api-routes', 'items', 5, 0, 30), row(OTHER_ROUTES, undefined, 1, 0, 30)] }],
        }),
      ),
      true,
    );
    assert.equal(stats.entries, 5 + 5 + 4, 'an entry per report, edge and route row');

    const s = buildSummary({ registry, store, stats, now: clock }, 10_000);
    const got = s.routeTraffic.map((r) => [r.destination, r.route, r.rule, r.requests, r.errors]);
    assert.deepEqual(got, [
      ['default/api', 'default/api-routes', 'api-routes.1', 6, 0],
      ['default/api', 'default/api-routes', 'items', 35, 2],
      ['default/api', DEFAULT_ROUTE, null, 2, 0],
      ['default/api', OTHER_ROUTES, null, 1, 0],
    ]);
    const items = s.routeTraffic.find((r) => r.rule === 'items')!;
    assert.equal(items.rps, 35);
    assert.equal(items.successRate, Math.round((1 - 2 / 35) * 10_000) / 10_000);
    assert.ok(items.p99Ms! > 20, `p99 ${items.p99Ms}: admin's 30 ms calls are in the top 14 %`);
    // The rule without a name is called as the client calls it, so the two join.
    assert.deepEqual(
      s.routes.find((r) => r.name === 'api-routes')!.rules.map((r) => r.name),
      ['items', 'api-routes.1'],
    );

    // 12 entries a reporter here: a report of 1 + 1 edge + 11 route rows is over it.
    const rows = Array.from({ length: 11 }, (_, i) => row('default/api-routes', `r${i}`, 1));
    assert.equal(stats.add(report({ reporter: 'wide-process', service: 'web', edges: [{ destination: 'api', requests: 11, errors: 0, latency: hist(2, 11), routes: rows }] })), false);
    assert.equal(stats.dropped['reporter-full'], 1);
  });

  it("a Gateway's edge is keyed as the summary names the Gateway parent (Gateway/ns/name), apart from a same-named Service", async () => {
    const stats = new StatsStore({ now: clock });
    const gwRow = row('default/gw-route', 'web', 4, 1);
    assert.equal(
      stats.add(
        report({
          reporter: 'gateway-process-1',
          service: 'edge',
          edges: [
            { destination: 'edge', kind: 'Gateway', requests: 4, errors: 1, latency: hist(2, 4), routes: [gwRow] },
            { destination: 'edge', requests: 2, errors: 0, latency: hist(2, 2), routes: [row(DEFAULT_ROUTE, undefined, 2)] },
          ],
        }),
      ),
      true,
    );
    const s = buildSummary({ registry, store, stats, now: clock }, 10_000);
    assert.deepEqual(
      s.edges.map((e) => [e.destination, e.requests]),
      [
        ['Gateway/default/edge', 4],
        ['default/edge', 2],
      ],
    );
    assert.deepEqual(
      s.routeTraffic.filter((r) => r.destination === 'Gateway/default/edge').map((r) => [r.route, r.rule, r.requests, r.errors]),
      [['default/gw-route', 'web', 4, 1]],
    );
  });
});

describe('per-route rows of POST /v1/stats on a real control plane', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane();
  });

  after(async () => {
    await cp.stop();
  });

  async function issues(body: unknown): Promise<{ status: number; paths: string[]; messages: string[] }> {
    const res = await call<{ error: { code: string; issues: { path: string; message: string }[] } }>(cp.url, 'POST', '/v1/stats', body);
    if (res.status !== 400) return { status: res.status, paths: [], messages: [] };
    assert.equal(res.body.error.code, 'HYPHAE_ERR_BAD_REQUEST');
    return { status: res.status, paths: res.body.error.issues.map((i) => i.path).sort(), messages: res.body.error.issues.map((i) => i.message) };
  }

  const edge = (routes: unknown[], requests = 3, errors = 0) => ({ destination: 'api', requests, errors, latency: hist(2, requests), routes });

  it('refuses malformed route rows, naming each', async () => {
    const malformed = await issues({
      reporter: 'route-reporter-1',
      intervalMs: 1000,
      edges: [
        edge([row('Not/A Route', 'x', 1), row(DEFAULT_ROUTE, 'items', 1), row('default/api-routes', undefined, 1)]),
        edge([{ ...row('default/api-routes', 'items', 2), extra: 1 }, row('default/api-routes', 'bad rule!', 1)]),
        // Rows that do not add up to their edge: the edge's figures would disagree with its routes'.
        edge([row('default/api-routes', 'items', 2, 1)], 3, 0),
        edge([{ route: 'default/api-routes', rule: 'items', requests: 2, errors: 3, latency: hist(2, 1) }], 2, 3),
        // An edge's kind is a Gateway or nothing (a Service): nothing else names a parent.
        { ...edge([row('default/api-routes', 'items', 1)], 1), kind: 'Service' },
        { ...edge([row('default/api-routes', 'items', 1)], 1), kind: 'gateway/../x' },
      ],
    });
    assert.equal(malformed.status, 400);
    console.log(`issues: ${malformed.paths.join(', ')}`);
    for (const p of [
      'edges[0].routes[0].route',
      'edges[0].routes[1].rule',
      'edges[0].routes[2].rule',
      'edges[1].routes[0].extra',
      'edges[1].routes[1].rule',
      'edges[2].routes',
      'edges[3].routes[0].errors',
      'edges[3].routes[0].latency',
      'edges[4].kind',
      'edges[5].kind',
    ]) {
      assert.ok(malformed.paths.includes(p), `${p} in ${malformed.paths.join(', ')}`);
    }
    assert.ok(malformed.messages.some((m) => /add up to the edge/.test(m)));
  });

  it(`refuses more than ${MAX_STATS_ROUTES_PER_EDGE} rows on an edge and ${MAX_STATS_ROUTES} in a report; takes a report at both caps`, async () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => row('default/api-routes', `r${i}`, 1));
    const perEdge = await issues({ reporter: 'route-reporter-2', intervalMs: 1000, edges: [edge(rows(MAX_STATS_ROUTES_PER_EDGE + 1), MAX_STATS_ROUTES_PER_EDGE + 1)] });
    assert.deepEqual([perEdge.status, perEdge.paths], [400, ['edges[0].routes']]);
    // 150 edges of 34 rows: 5 100 rows, each edge within its cap, the report over the total.
    const many = Array.from({ length: 150 }, (_, i) => ({ ...edge(rows(MAX_STATS_ROUTES_PER_EDGE), MAX_STATS_ROUTES_PER_EDGE), destination: `svc-${i}` }));
    const total = await issues({ reporter: 'route-reporter-3', intervalMs: 1000, edges: many });
    assert.deepEqual([total.status, total.paths], [400, ['edges']]);
    assert.ok(total.messages.some((m) => m.includes(`at most ${MAX_STATS_ROUTES} route rows`)));
    const atCaps = await call(cp.url, 'POST', '/v1/stats', {
      reporter: 'route-reporter-4',
      service: 'web',
      intervalMs: 1000,
      edges: many.slice(0, Math.floor(MAX_STATS_ROUTES / MAX_STATS_ROUTES_PER_EDGE)),
    });
    assert.equal(atCaps.status, 204);
    const summary = await call<{ routeTraffic: { destination: string; requests: number }[] }>(cp.url, 'GET', '/v1/stats/summary?window=10');
    assert.equal(summary.body.routeTraffic.filter((r) => r.destination === 'default/svc-0').length, MAX_STATS_ROUTES_PER_EDGE);
  });
});
