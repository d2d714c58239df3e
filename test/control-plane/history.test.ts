/**
 * The dashboard's history (control-plane/stats/history.ts): a ring of points
 * per service and edge on a fake clock, its bounds, and GET /v1/stats/history
 * on a real control plane fed by real meshes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { StatsStore } from '../../src/control-plane/stats/stats-store.js';
import { drain } from '../../src/control-plane/stats/sliced.js';
import { historySample, StatsHistory, type HistoryView } from '../../src/control-plane/stats/history.js';
import type { TrafficView } from '../../src/control-plane/stats/summary.js';
import type { TokenResponse } from '../../src/config/wire.js';
import { createMesh } from '../../src/index.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/services.js';
import { hist, report } from '../helpers/stats-reports.js';

const traffic = (requests: number, errors = 0): TrafficView => ({ rps: requests / 15, requests, errors, successRate: 1 - errors / requests, p50Ms: 1, p99Ms: 2 });

describe('stats history (fake clock)', () => {
  it('keeps the last points of each series, oldest first, with null where there was no traffic', () => {
    const h = new StatsHistory({ points: 4 });
    for (let i = 1; i <= 6; i++) {
      const services = new Map([['default/api', traffic(i * 15)]]);
      // web -> api only at steps 2 and 5.
      const edges = new Map(i === 2 || i === 5 ? [['default/web>default/api', traffic(30, 3)]] : []);
      h.record(i * 15_000, { services, edges });
    }
    const v = h.view(15_000);
    assert.deepEqual(
      v.times.map((t) => Date.parse(t)),
      [3, 4, 5, 6].map((i) => i * 15_000),
    );
    assert.deepEqual(v.services, [{ service: 'default/api', rps: [3, 4, 5, 6], successRate: [1, 1, 1, 1], p99Ms: [2, 2, 2, 2] }]);
    assert.deepEqual(v.edges, [{ source: 'default/web', destination: 'default/api', rps: [null, null, 2, null], successRate: [null, null, 0.9, null], p99Ms: [null, null, 2, null] }]);
  });

  it('forgets a series once none of its points had traffic, and caps the number of series', () => {
    const h = new StatsHistory({ points: 3, maxSeries: 2 });
    h.record(1, {
      services: new Map([
        ['default/a', traffic(1)],
        ['default/b', traffic(1)],
        ['default/c', traffic(1)],
      ]),
      edges: new Map(),
    });
    assert.equal(h.series, 2);
    assert.equal(h.droppedSeries, 1, 'the third series is over the cap');
    // Three quiet steps: every point of a and b is now empty.
    for (let i = 2; i <= 4; i++) h.record(i, { services: new Map(), edges: new Map() });
    assert.equal(h.series, 0);
    h.record(5, { services: new Map([['default/c', traffic(2)]]), edges: new Map([['>default/c', traffic(2)]]) });
    const v = h.view(1000);
    assert.deepEqual(
      v.services.map((s) => s.service),
      ['default/c'],
    );
    assert.equal(v.edges[0]!.source, null, 'a caller without a service name');
  });

  it('samples a step of the store: what each service served and each edge carried', () => {
    let now = 1_000_000;
    const stats = new StatsStore({ now: () => now });
    for (let i = 0; i < 3; i++) {
      now += 1000;
      stats.add(report({ reporter: 'api-process-1', service: 'api', inbound: { requests: 10, errors: 1, latency: hist(4, 10) } }));
      stats.add(report({ reporter: 'api-process-2', service: 'api', inbound: { requests: 20, errors: 0, latency: hist(4, 20) } }));
      stats.add(report({ reporter: 'web-process-1', service: 'web', edges: [{ destination: 'api', requests: 30, errors: 1, latency: hist(8, 30) }] }));
    }
    const sample = drain(historySample(stats, 15_000));
    const api = sample.services.get('default/api')!;
    assert.equal(api.requests, 90);
    assert.equal(api.errors, 3);
    assert.equal(sample.services.has('default/web'), false, 'web served nothing');
    const edge = sample.edges.get('default/web>default/api')!;
    assert.equal(edge.requests, 90);
    assert.equal(edge.errors, 3);
  });
});

describe('GET /v1/stats/history on a real control plane', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane({ args: ['--stats-history-step', '1s'] });
  });
  after(async () => {
    await cp.stop();
  });

  it('shows the traffic of real meshes per service and edge, step by step; a viewer may read it', async () => {
    const api = await createMesh({ ...(await cp.meshOptions('api')), telemetry: { statsIntervalMs: 250 } });
    const server = api.wrapServer(http.createServer((_req, res) => res.end('ok')));
    server.listen(0, '127.0.0.1');
    await api.registered(server);
    const web = await createMesh({ ...(await cp.meshOptions('web')), telemetry: { statsIntervalMs: 250 } });
    let sent = 0;
    const history = async () => (await call<HistoryView>(cp.url, 'GET', '/v1/stats/history')).body;
    const points = (v: HistoryView) => v.edges.find((e) => e.source === 'default/web' && e.destination === 'default/api')?.rps.filter((x) => x !== null).length ?? 0;
    try {
      // Traffic until two steps of it show (bounded in count; the wait is a stall ceiling).
      await waitUntil(
        async () => {
          for (let i = 0; i < 20 && sent < 5_000; i++, sent++) await (await web.request('http://api/')).body.text();
          return points(await history()) >= 2;
        },
        30_000,
        50,
      );
      const v = await history();
      console.log(`history after ${sent} calls: ${v.times.length} steps of ${v.stepSeconds} s; web>api rps ${JSON.stringify(v.edges.find((e) => e.destination === 'default/api')?.rps)}`);
      assert.equal(v.stepSeconds, 1);
      const edge = v.edges.find((e) => e.source === 'default/web' && e.destination === 'default/api')!;
      assert.equal(edge.rps.length, v.times.length);
      assert.ok(
        edge.successRate.every((s) => s === null || s === 1),
        JSON.stringify(edge.successRate),
      );
      assert.ok(edge.p99Ms.some((p) => p !== null && p > 0));
      const served = v.services.find((s) => s.service === 'default/api')!;
      assert.ok(
        served.rps.some((r) => r !== null && r > 0),
        JSON.stringify(served),
      );
      const viewer = await call<TokenResponse>(cp.url, 'POST', '/v1/tokens', { kind: 'viewer' });
      assert.equal((await call(cp.url, 'GET', '/v1/stats/history', undefined, { token: viewer.body.token })).status, 200);
      assert.equal((await call(cp.url, 'GET', '/v1/stats/history', undefined, { token: null })).status, 401);
    } finally {
      await web.close();
      await api.close();
      server.close();
    }
  });
});
