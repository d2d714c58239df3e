/**
 * `telemetry.tracerProvider` and `telemetry.meterProvider` given to
 * createMesh, with nothing registered with the OpenTelemetry API: no global
 * provider, propagator or context manager in this process. Three meshes in
 * one process over loopback (web -> api -> db): the spans come from the given
 * provider and are parented across both hops (the mesh carries the context
 * through the handler itself), and the duration metrics reach the given
 * meter provider.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { listenWrapped } from '../helpers/http-servers.js';

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Where @opentelemetry/api 1.x keeps whatever is registered globally: absent means nothing is. */
const apiGlobals = () => (globalThis as Record<symbol, unknown>)[Symbol.for('opentelemetry.js.api.1')];

describe('tracer and meter providers given in the options, none registered globally', () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const resolver = new StaticResolver();
  const meshes: Mesh[] = [];
  let web: Mesh;

  before(async () => {
    const mesh = async (service: string) => {
      const m = await createMesh({ resolver, service, server: { drainDelayMs: 0 }, telemetry: { tracerProvider, meterProvider } });
      meshes.push(m);
      return m;
    };
    const db = await mesh('db');
    resolver.set('db', [{ address: '127.0.0.1', port: await listenWrapped(db, (_req, res) => res.end('row')) }]);
    const api = await mesh('api');
    const apiPort = await listenWrapped(api, (_req, res) => {
      // Awaits in between: the server span must still be the parent of this call.
      void new Promise((r) => setTimeout(r, 5))
        .then(() => api.request('http://db/rows/1'))
        .then((r) => r.body.text())
        .then((t) => res.end(`api:${t}`));
    });
    resolver.set('api', [{ address: '127.0.0.1', port: apiPort }]);
    web = await mesh('web');
  });

  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  it('spans from the given tracer provider, parented across two hops; duration metrics in the given meter provider', async () => {
    assert.equal(apiGlobals(), undefined, 'nothing is registered with the API before');
    const res = await web.request('http://api/items');
    assert.equal(await res.body.text(), 'api:row');
    const deadline = Date.now() + 2_000;
    while (exporter.getFinishedSpans().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const spans = exporter.getFinishedSpans();
    const find = (kind: SpanKind, service: string) => {
      const found = spans.filter((s) => s.kind === kind && s.attributes['hyphae.service'] === service);
      assert.equal(found.length, 1, `one ${SpanKind[kind]} span of ${service}: ${spans.map((s) => `${SpanKind[s.kind]} ${String(s.attributes['hyphae.service'])}`).join(', ')}`);
      return found[0]!;
    };
    const webClient = find(SpanKind.CLIENT, 'web');
    const apiServer = find(SpanKind.SERVER, 'api');
    const apiClient = find(SpanKind.CLIENT, 'api');
    const dbServer = find(SpanKind.SERVER, 'db');
    const traceId = webClient.spanContext().traceId;
    assert.ok(
      [apiServer, apiClient, dbServer].every((s) => s.spanContext().traceId === traceId),
      'one trace',
    );
    assert.equal(apiServer.parentSpanContext?.spanId, webClient.spanContext().spanId);
    assert.equal(apiClient.parentSpanContext?.spanId, apiServer.spanContext().spanId, "the handler's call is a child of its request");
    assert.equal(dbServer.parentSpanContext?.spanId, apiClient.spanContext().spanId);

    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'hyphae').flatMap((s) => s.metrics);
    const count = (name: string) => ((all.find((m) => m.descriptor.name === name) as HistogramMetricData | undefined)?.dataPoints ?? []).reduce((n, p) => n + p.value.count, 0);
    assert.equal(count('http.client.request.duration'), 2, 'web -> api and api -> db');
    assert.equal(count('http.server.request.duration'), 2, 'api and db');
    assert.equal(apiGlobals(), undefined, 'and nothing was registered by the mesh');
  });
});
