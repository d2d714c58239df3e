/**
 * Metrics from real meshes (createMesh, wrapServer, real sockets; discovery by
 * a StaticResolver) into a real MeterProvider (sdk-metrics, an in-memory
 * reader): the duration histograms with the semconv buckets and the mesh
 * attributes, the active-request and endpoint gauges, the edge stats for the
 * control plane and the access log; and the counters other layers call.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader, type HistogramMetricData, type MetricData } from '@opentelemetry/sdk-metrics';
import { createMesh, setServerRoute, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { HTTP_DURATION_BUCKETS } from '../../src/telemetry/semconv.js';
import { subscribeTelemetry } from '../../src/mesh/telemetry.js';
import { unheardEvents } from '../../src/client/events.js';

type Row = Record<string, unknown> & { count: number };

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

async function collect(reader: MetricReader): Promise<MetricData[]> {
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'hyphae').flatMap((s) => s.metrics);
}

function byName(all: MetricData[], name: string): MetricData {
  const m = all.find((x) => x.descriptor.name === name);
  assert.ok(m, `${name} is exported; got ${all.map((x) => x.descriptor.name).join(', ')}`);
  return m;
}

const points = (m: MetricData) => m.dataPoints as { value: number; attributes: Record<string, unknown> }[];

describe('metrics, edge stats and access log of real meshes', () => {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const clientLog: Record<string, unknown>[] = [];
  const serverLog: Record<string, unknown>[] = [];
  const resolver = new StaticResolver();
  let web: Mesh;
  let api: Mesh;
  let server: http.Server;

  before(async () => {
    // The meshes exist before the SDK: the metrics API has no proxy, so the telemetry must notice the provider arriving.
    web = await createMesh({ resolver, service: 'web', telemetry: { accessLog: (line) => clientLog.push(JSON.parse(line) as Record<string, unknown>) } });
    api = await createMesh({
      resolver: new StaticResolver(),
      service: 'api',
      server: { drainDelayMs: 0 },
      telemetry: { accessLog: (line) => serverLog.push(JSON.parse(line) as Record<string, unknown>) },
    });
    metrics.setGlobalMeterProvider(provider);
    server = api.wrapServer(
      http.createServer((req, res) => {
        const path = req.url!.split('?')[0]!;
        setServerRoute(req, path.startsWith('/items') ? '/items/:id' : '/other');
        if (path === '/items/broken') res.statusCode = 500;
        if (path === '/missing') res.statusCode = 404;
        res.end('x');
      }),
      { register: false },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    resolver.set('api', [{ address: '127.0.0.1', port: (server.address() as AddressInfo).port }]);
    resolver.set('down', [{ address: '127.0.0.1', port: 9 }]);
  });

  after(async () => {
    await web.close();
    await api.close();
    await provider.shutdown();
    metrics.disable();
  });

  it('records every call and request with the mesh attributes, and the gauges', async () => {
    for (const path of ['/items/1', '/items/2', '/items/broken', '/missing']) {
      const r = await web.request(`http://api${path}?secret=1`);
      await r.body.text();
    }
    await assert.rejects(web.request('http://down/'));
    await new Promise((r) => setTimeout(r, 50)); // server-side 'close'
    const all = await collect(reader);

    const clientHist = byName(all, 'http.client.request.duration') as HistogramMetricData;
    assert.equal(clientHist.descriptor.unit, 's');
    assert.equal(clientHist.dataPointType, DataPointType.HISTOGRAM);
    assert.deepEqual(clientHist.dataPoints[0]!.value.buckets.boundaries, HTTP_DURATION_BUCKETS);
    const rows = clientHist.dataPoints.map((p) => ({ ...p.attributes, count: p.value.count }) as Row);
    console.log('http.client.request.duration series:\n  ' + rows.map((r) => JSON.stringify(r)).join('\n  '));
    const ok = rows.find((r) => r['http.response.status_code'] === 200)!;
    assert.equal(ok.count, 2);
    assert.equal(ok['server.address'], 'api');
    assert.equal(ok['server.port'], 80, "the logical URL's (semconv: required)");
    assert.equal(ok['hyphae.source.service'], undefined, "this service is the resource's service.name, not a label");
    assert.equal(ok['hyphae.destination.namespace'], undefined, 'named only when not our own namespace');
    assert.equal(ok['hyphae.outcome'], 'success');
    assert.equal(ok['http.request.method'], 'GET');
    for (const r of rows) for (const k of Object.keys(r)) assert.ok(!String(r[k]).includes('/items'), `no raw path in ${k}`);
    const missing = rows.find((r) => r['http.response.status_code'] === 404)!;
    assert.equal(missing['error.type'], '404');
    assert.equal(missing['hyphae.outcome'], 'success', "a 404 is the caller's answer, not a mesh failure");
    const broken = rows.find((r) => r['http.response.status_code'] === 500)!;
    assert.equal(broken['hyphae.outcome'], 'failure');
    const down = rows.find((r) => r['server.address'] === 'down')!;
    assert.equal(down['error.type'], 'HYPHAE_ERR_CONNECT_FAILED', 'the error the application got');
    assert.equal(down['hyphae.outcome'], 'failure');

    const serverHist = byName(all, 'http.server.request.duration') as HistogramMetricData;
    const srows = serverHist.dataPoints.map((p) => ({ ...p.attributes, count: p.value.count }) as Row);
    console.log('http.server.request.duration series:\n  ' + srows.map((r) => JSON.stringify(r)).join('\n  '));
    assert.equal(srows.find((r) => r['http.route'] === '/items/:id' && r['http.response.status_code'] === 200)?.count, 2);
    const s500 = srows.find((r) => r['http.response.status_code'] === 500)!;
    assert.equal(s500['hyphae.outcome'], 'failure');
    assert.equal(s500['error.type'], '500');
    assert.equal(s500['url.scheme'], 'http');
    assert.equal(Object.keys(s500).length, 7, 'method, scheme, status, outcome, route, error.type (+count): few labels, the SDK hashes them per record');

    // Gauges read what the mesh keeps: its destinations' endpoints, nothing in flight now.
    const eps = points(byName(all, 'hyphae.client.endpoints'))
      .map((p) => [p.attributes['server.address'], p.attributes['hyphae.endpoint.state'], p.value])
      .sort();
    assert.deepEqual(eps, [
      ['api', 'healthy', 1],
      ['down', 'healthy', 1],
    ]);
    const active = points(byName(all, 'http.client.active_requests'));
    assert.ok(active.length >= 1 && active.every((p) => p.value === 0), 'nothing in flight after the calls');
    assert.equal(points(byName(all, 'http.server.active_requests'))[0]!.value, 0);
  });

  it('writes one access log line per request on each side, never with the query string', () => {
    assert.equal(clientLog.length, 5);
    assert.equal(serverLog.length, 4);
    const one = clientLog.find((l) => l.path === '/items/1')!;
    assert.equal(one.attempts, 1);
    assert.equal(one.status, 200);
    assert.equal(one.side, 'client');
    assert.equal(one.service, 'web');
    assert.equal(one.peer, 'api');
    assert.match(String(one.endpoint), /^127\.0\.0\.1:\d+$/);
    assert.ok(!JSON.stringify([...clientLog, ...serverLog]).includes('secret'), 'no query strings in the log');
    const s = serverLog.find((l) => l.status === 404)!;
    assert.equal(s.route, '/other');
    assert.equal(s.service, 'api');
    assert.equal(typeof s.duration_ms, 'number');
    const failed = clientLog.find((l) => l.peer === 'down')!;
    assert.equal(failed.error, 'HYPHAE_ERR_CONNECT_FAILED');
    assert.equal(failed.status, 0);
    console.log(`client line: ${JSON.stringify(one)}\nserver line: ${JSON.stringify(s)}`);
  });

  it('the counters other layers call: retries, budget, ejections, shed, denied; the certificate gauge', async () => {
    // Layers report through the mesh's MeshTelemetry; here one of its own, on the same provider.
    const t = new MeshTelemetry({ service: 'web' });
    t.recordRetry('api', 'items', 'retriable-status');
    t.recordBudgetExhausted('api', 'items');
    t.recordEjection('api', 'consecutive-5xx');
    t.recordShed('concurrency');
    t.recordDenied('deny-policy', 'default/only-web');
    const notAfter = new Date('2030-01-02T03:04:05Z');
    t.observeCertificate(() => ({ spiffeId: 'spiffe://mesh.local/ns/default/sa/web', notBefore: new Date('2029-12-31T00:00:00Z'), notAfter }));
    const all = await collect(reader);
    const only = (name: string) => points(byName(all, name)).filter((p) => p.attributes['hyphae.source.service'] === 'web' || p.attributes['hyphae.service'] === 'web');
    // The real mesh's call to `down` (connection refused) was retried once through the mesh's hooks.
    assert.deepEqual(
      only('hyphae.client.retries')
        .map((p) => [p.value, p.attributes['hyphae.retry.reason'], p.attributes['hyphae.route'] ?? null])
        .sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
      [
        [1, 'connect-failure', null],
        [1, 'retriable-status', 'items'],
      ],
    );
    assert.equal(only('hyphae.client.retry_budget.exhausted')[0]!.value, 1);
    // One name for the destination on every client series, the histograms' semconv one (issue 19).
    assert.deepEqual(
      only('hyphae.client.retry_budget.exhausted').map((p) => p.attributes['server.address']),
      ['api'],
    );
    const labels = new Set(all.flatMap((m) => (m.dataPoints as { attributes: Record<string, unknown> }[]).flatMap((p) => Object.keys(p.attributes))));
    for (const label of labels) assert.match(label, /^(hyphae\.[a-z_.]+|http\.[a-z_.]+|server\.(address|port)|url\.scheme|error\.type)$/, `label ${label}: a semconv name or hyphae.*`);
    assert.ok(!labels.has('hyphae.destination.service'), 'the destination is server.address on metrics');
    assert.equal(only('hyphae.client.endpoint.ejections')[0]!.attributes['hyphae.reason'], 'consecutive-5xx');
    assert.equal(only('hyphae.server.requests.shed')[0]!.attributes['hyphae.reason'], 'concurrency');
    assert.equal(only('hyphae.server.requests.denied')[0]!.attributes['hyphae.policy'], 'default/only-web');
    assert.equal(
      points(byName(all, 'hyphae.tls.certificate.expiration')).find((p) => p.attributes['hyphae.tls.spiffe_id'] === 'spiffe://mesh.local/ns/default/sa/web')!.value,
      notAfter.getTime() / 1000,
    );
  });
});

describe('a closed mesh leaves the meter provider', () => {
  it('its observable instruments stop reporting once it is closed', async () => {
    // Delta: a series is exported only when its callback observed it since the last collection.
    const reader = new TestReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
    const provider = new MeterProvider({ readers: [reader] });
    const mesh = await createMesh({ resolver: new StaticResolver(), service: 'closing', telemetry: { meterProvider: provider } });
    const active = async () => {
      const { resourceMetrics } = await reader.collect();
      const m = resourceMetrics.scopeMetrics.flatMap((sm) => sm.metrics).find((x) => x.descriptor.name === 'http.server.active_requests');
      return (m?.dataPoints ?? []).filter((p) => p.attributes['hyphae.service'] === 'closing').length;
    };
    // The instruments are made on first use (a request, or a stats report): one request through a wrapped server.
    const server = mesh.wrapServer(
      http.createServer((_req, res) => res.end('ok')),
      { register: false },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await res.text();
    assert.equal(await active(), 1, 'observed while open');
    await mesh.close();
    assert.equal(await active(), 0, 'no longer observed once closed');
    await provider.shutdown();
  });
});

describe("telemetry's subscriptions to the mesh's event sink: what the layers decide, counted", () => {
  it('counts retries only when retried, budget exhaustion, ejections and shed requests', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const t = new MeshTelemetry({ service: 'web', meterProvider: provider });
    const events = unheardEvents();
    subscribeTelemetry(events, t);
    const at = { destination: 'api', namespace: 'default', route: 'r1', condition: 'retriable-status', endpoint: '127.0.0.1:1' };
    events.emit('retry', { ...at, decision: 'retry', attempt: 0, delayMs: 10 });
    events.emit('retry', { ...at, decision: 'attempts-exhausted', attempt: 1, delayMs: 0 });
    // Budget exhaustion is a retry decision like the others: one channel.
    events.emit('retry', { ...at, decision: 'budget-exhausted', attempt: 1, delayMs: 0 });
    events.emit('ejection', { destination: 'api', namespace: 'default', endpoint: '127.0.0.1:1', reason: 'consecutive-failures', durationMs: 30_000, multiplier: 1 });
    events.emit('shed', { reason: 'event-loop' });
    const all = await collect(reader);
    assert.deepEqual(
      points(byName(all, 'hyphae.client.retries')).map((p) => [p.value, p.attributes['hyphae.retry.reason']]),
      [[1, 'retriable-status']],
    );
    assert.equal(points(byName(all, 'hyphae.client.retry_budget.exhausted'))[0]!.value, 1);
    assert.equal(points(byName(all, 'hyphae.client.endpoint.ejections'))[0]!.attributes['hyphae.reason'], 'consecutive-failures');
    assert.equal(points(byName(all, 'hyphae.server.requests.shed'))[0]!.attributes['hyphae.reason'], 'event-loop');
    await provider.shutdown();
  });
});
