/**
 * The destination's cluster on client spans, attempt events and the client duration metric (issue 17):
 * an endpoint imported from another cluster names its own; a local one names this mesh's cluster, which a
 * mesh without a control plane does not know, so nothing is said of it then (never a guess). Real meshes
 * over loopback, with the endpoints' clusters given through the static resolver.
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

describe('the cluster of the endpoint a call went to', () => {
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
    const remote = await listenWrapped(await mesh('api'), (_req, res) => res.end('far'));
    const near = await listenWrapped(await mesh('db'), (_req, res) => res.end('near'));
    resolver.set('api', [{ address: '127.0.0.1', port: remote, cluster: 'dc2' }]);
    resolver.set('db', [{ address: '127.0.0.1', port: near }]);
    web = await mesh('web');
  });

  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  it('an imported endpoint: its cluster on the span, the attempt event, the metric and mesh.endpoints(); a local one with no known cluster: none', async () => {
    assert.equal(await (await web.request('http://api/x')).body.text(), 'far');
    assert.equal(await (await web.request('http://db/x')).body.text(), 'near');
    assert.equal(web.cluster, undefined, 'no control plane: the mesh does not know its cluster');
    assert.deepEqual(
      web.endpoints('api').map((e) => e.cluster),
      ['dc2'],
    );
    assert.deepEqual(
      web.endpoints('db').map((e) => e.cluster),
      [undefined],
    );

    const deadline = Date.now() + 2_000;
    while (exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const client = (service: string) => {
      const span = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT && s.attributes['hyphae.destination.service'] === service);
      assert.ok(span, `a client span to ${service}`);
      return span;
    };
    const far = client('api');
    assert.equal(far.attributes['hyphae.destination.cluster'], 'dc2');
    assert.equal(far.attributes['hyphae.cluster'], undefined, "the caller's own cluster is unknown");
    const attempt = far.events.find((e) => e.name === 'hyphae.attempt');
    assert.equal(attempt?.attributes?.['hyphae.destination.cluster'], 'dc2', 'the attempt names where it went');
    const near = client('db');
    assert.ok(!('hyphae.destination.cluster' in near.attributes), 'a local endpoint of an unknown cluster is not given one');

    const { resourceMetrics } = await reader.collect();
    const hist = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'http.client.request.duration') as HistogramMetricData | undefined;
    assert.ok(hist, 'the client duration metric is recorded');
    const series = (address: string) => hist.dataPoints.filter((p) => p.attributes['server.address'] === address).map((p) => p.attributes['hyphae.destination.cluster']);
    assert.deepEqual(series('api'), ['dc2']);
    assert.deepEqual(series('db'), [undefined]);
  });
});
