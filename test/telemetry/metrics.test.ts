/**
 * Metrics through the API with a real MeterProvider (sdk-metrics, an
 * in-memory reader): the duration histograms with the semconv buckets and
 * the mesh attributes, the counters other layers call, the observable
 * gauges; plus the edge stats for the control plane and the access log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader, type HistogramMetricData, type MetricData } from '@opentelemetry/sdk-metrics';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { setServerRoute } from '../../src/telemetry/server-request.js';
import { HTTP_DURATION_BUCKETS } from '../../src/telemetry/semconv.js';
import { startTracedServer, TestClient, type TestService } from '../helpers/telemetry-stack.js';

type Row = Record<string, unknown> & { count: number };

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('metrics, edge stats and access log', () => {
  const resolver = new StaticResolver();
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const clientLog: Record<string, unknown>[] = [];
  const serverLog: Record<string, unknown>[] = [];
  let web: MeshTelemetry;
  let apiT: MeshTelemetry;
  let api: TestService;
  let client: TestClient;
  let n = 0;

  before(async () => {
    // Created before the SDK: the metrics API has no proxy, so the telemetry must notice the provider arriving.
    web = new MeshTelemetry({ service: 'web', accessLog: (line) => clientLog.push(JSON.parse(line) as Record<string, unknown>) });
    apiT = new MeshTelemetry({ service: 'api', accessLog: (line) => serverLog.push(JSON.parse(line) as Record<string, unknown>) });
    metrics.setGlobalMeterProvider(provider);
    api = await startTracedServer(apiT, (req, res) => {
      const path = req.url!.split('?')[0];
      setServerRoute(req, path!.startsWith('/items') ? '/items/:id' : '/other');
      if (path === '/items/flaky') res.statusCode = n++ === 0 ? 503 : 200;
      if (path === '/missing') res.statusCode = 404;
      res.end('x');
    });
    resolver.set('api', [{ address: '127.0.0.1', port: api.port }]);
    resolver.set('down', [{ address: '127.0.0.1', port: 9 }]);
    client = new TestClient(web, resolver);
  });

  after(async () => {
    await client.close();
    await api.close();
    await provider.shutdown();
  });

  it('records the calls, the counters and the gauges', async () => {
    for (const path of ['/items/1', '/items/2', '/items/flaky', '/missing']) {
      const r = await client.request(`http://api${path}?secret=1`);
      await r.body.text();
    }
    await assert.rejects(client.request('http://down/'));
    web.recordRetry('api', 'items', '503');
    web.recordBudgetExhausted('api', 'items');
    web.recordEjection('api', 'consecutive-5xx');
    apiT.recordShed('concurrency');
    apiT.recordDenied('no-allow-match', 'default/only-web');
    web.observeEndpoints(() => [
      { service: 'api', namespace: 'default', id: '10.0.0.1:80', state: 'healthy' },
      { service: 'api', namespace: 'default', id: '10.0.0.2:80', state: 'healthy' },
      { service: 'api', namespace: 'default', id: '10.0.0.3:80', state: 'ejected' },
    ]);
    const notAfter = new Date('2030-01-02T03:04:05Z');
    apiT.observeCertificate(() => ({ spiffeId: 'spiffe://mesh.local/ns/default/sa/api', notBefore: new Date('2029-12-31T00:00:00Z'), notAfter }));
    await new Promise((r) => setTimeout(r, 50)); // server spans end on 'close'

    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'hyphae').flatMap((s) => s.metrics);
    const byName = (name: string): MetricData => {
      const m = all.find((x) => x.descriptor.name === name);
      assert.ok(m, `${name} is exported; got ${all.map((x) => x.descriptor.name).join(', ')}`);
      return m;
    };

    const clientHist = byName('http.client.request.duration') as HistogramMetricData;
    assert.equal(clientHist.descriptor.unit, 's');
    assert.equal(clientHist.dataPointType, DataPointType.HISTOGRAM);
    assert.deepEqual(clientHist.dataPoints[0]!.value.buckets.boundaries, HTTP_DURATION_BUCKETS);
    const rows = clientHist.dataPoints.map((p) => ({ ...p.attributes, count: p.value.count }) as Row);
    console.log('http.client.request.duration series:\n  ' + rows.map((r) => JSON.stringify(r)).join('\n  '));
    const ok = rows.find((r) => r['http.response.status_code'] === 200)!;
    assert.equal(ok.count, 3, 'two plain calls and the retried one');
    assert.equal(ok['server.address'], 'api');
    assert.equal(ok['hyphae.source.service'], undefined, 'this service is the resource\'s service.name, not a label');
    assert.equal(ok['hyphae.destination.namespace'], undefined, 'named only when not our own namespace');
    assert.equal(ok['hyphae.outcome'], 'success');
    assert.equal(ok['http.request.method'], 'GET');
    for (const r of rows) for (const k of Object.keys(r)) assert.ok(!String(r[k]).includes('/items'), `no raw path in ${k}`);
    const missing = rows.find((r) => r['http.response.status_code'] === 404)!;
    assert.equal(missing['error.type'], '404');
    assert.equal(missing['hyphae.outcome'], 'success', 'a 404 is the caller\'s answer, not a mesh failure');
    const down = rows.find((r) => r['server.address'] === 'down')!;
    assert.equal(down['error.type'], 'ECONNREFUSED');
    assert.equal(down['hyphae.outcome'], 'failure');

    const server = byName('http.server.request.duration') as HistogramMetricData;
    const srows = server.dataPoints.map((p) => ({ ...p.attributes, count: p.value.count }) as Row);
    console.log('http.server.request.duration series:\n  ' + srows.map((r) => JSON.stringify(r)).join('\n  '));
    assert.equal(srows.find((r) => r['http.route'] === '/items/:id' && r['http.response.status_code'] === 200)?.count, 3);
    const s503 = srows.find((r) => r['http.response.status_code'] === 503)!;
    assert.equal(s503['hyphae.outcome'], 'failure');
    assert.equal(s503['error.type'], '503');
    assert.equal(Object.keys(s503).length, 6, 'method, status, outcome, route, error.type (+count): few labels, the SDK hashes them per record');

    const sum = (name: string) => (byName(name).dataPoints as { value: number; attributes: Record<string, unknown> }[]);
    assert.deepEqual(sum('hyphae.client.retries').map((p) => [p.value, p.attributes['hyphae.reason'], p.attributes['hyphae.route']]), [[1, '503', 'items']]);
    assert.equal(sum('hyphae.client.retry_budget.exhausted')[0]!.value, 1);
    assert.equal(sum('hyphae.client.endpoint.ejections')[0]!.attributes['hyphae.reason'], 'consecutive-5xx');
    assert.equal(sum('hyphae.server.requests.shed')[0]!.attributes['hyphae.reason'], 'concurrency');
    assert.equal(sum('hyphae.server.requests.denied')[0]!.attributes['hyphae.policy'], 'default/only-web');
    const eps = sum('hyphae.client.endpoints').map((p) => [p.attributes['hyphae.endpoint.state'], p.value]).sort();
    assert.deepEqual(eps, [['ejected', 1], ['healthy', 2]]);
    assert.equal(sum('hyphae.tls.certificate.expiration')[0]!.value, notAfter.getTime() / 1000);
    const active = sum('http.client.active_requests');
    assert.ok(active.length >= 1 && active.every((p) => p.value === 0), 'nothing in flight after the calls');
  });

  it('edge stats count what happened since the last report, then start again', () => {
    const snap = web.takeStats();
    const edge = snap.edges.find((e) => e.destination === 'api')!;
    assert.equal(edge.requests, 4);
    assert.equal(edge.errors, 0, '404 is not an error; the 503 was retried');
    assert.equal(edge.latency.reduce((s, [, c]) => s + c, 0), 4);
    const down = snap.edges.find((e) => e.destination === 'down')!;
    assert.deepEqual([down.requests, down.errors], [1, 1]);
    assert.equal(snap.endpoints.length, 3);
    const inbound = apiT.takeStats().inbound;
    assert.deepEqual([inbound.requests, inbound.errors], [5, 1], 'five requests served, the 503 failed');
    assert.equal(web.takeStats().edges.length, 0, 'reset after the take');
    console.log(`edge web->api: ${JSON.stringify(edge)}`);
  });

  it('writes one access log line per request on each side', () => {
    assert.equal(clientLog.length, 5);
    assert.equal(serverLog.length, 5);
    const flaky = clientLog.find((l) => l.path === '/items/flaky')!;
    assert.equal(flaky.attempts, 2);
    assert.equal(flaky.status, 200);
    assert.equal(flaky.side, 'client');
    assert.equal(flaky.peer, 'api');
    assert.match(String(flaky.endpoint), /^127\.0\.0\.1:\d+$/);
    assert.ok(!JSON.stringify(clientLog).includes('secret'), 'no query strings in the log');
    const s = serverLog.find((l) => l.status === 404)!;
    assert.equal(s.route, '/other');
    assert.equal(s.service, 'api');
    assert.equal(typeof s.duration_ms, 'number');
    const failed = clientLog.find((l) => l.peer === 'down')!;
    assert.equal(failed.error, 'ECONNREFUSED');
    console.log(`client line: ${JSON.stringify(flaky)}\nserver line: ${JSON.stringify(s)}`);
  });
});
