/**
 * With @opentelemetry/instrumentation-http and instrumentation-undici
 * installed, a real mesh (createMesh, wrapServer) adds to their spans instead
 * of doubling them: the server request keeps one SERVER span
 * (instrumentation-http's, enriched with the mesh's attributes — wrapServer
 * runs its stack inside the instrumentation's patched emit), each physical
 * request keeps one CLIENT span (undici's), the mesh's per-call span becomes
 * INTERNAL, and one traceparent goes out. A request whose instrumentation-http
 * span is unsampled, or that its ignore hook skips, gets no span of the mesh's;
 * http.server.request.duration is instrumentation-http's alone.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SpanKind, trace } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { MetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { AlwaysOnSampler, InMemorySpanExporter, ParentBasedSampler, SamplingDecision, SimpleSpanProcessor, type Sampler } from '@opentelemetry/sdk-trace-base';
import { createMesh, setServerRoute, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { startControlPlane } from '../helpers/control-plane.js';

process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';
const exporter = new InMemorySpanExporter();

/** Root spans are sampled, except as `plan` says: one decision per root span, in order, while it lasts. */
class PlannedRoots implements Sampler {
  plan: boolean[] = [];
  shouldSample() {
    const next = this.plan.shift();
    return next === false ? { decision: SamplingDecision.NOT_RECORD } : new AlwaysOnSampler().shouldSample();
  }
  toString(): string {
    return 'PlannedRoots';
  }
}
const roots = new PlannedRoots();

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}
const reader = new TestReader();
const sdk = new NodeSDK({
  serviceName: 'instrumented',
  sampler: new ParentBasedSampler({ root: roots }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
  metricReaders: [reader],
  instrumentations: [new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === '/health' }), new UndiciInstrumentation()],
});

/** A GET over a raw socket: no instrumented client in between, so the server's instrumentation makes the root. */
/** Once at least one span is exported (2 s at most): every exported span as [kind, scope, path]. */
async function exportedSpans(): Promise<[string, string, unknown][]> {
  const deadline = Date.now() + 2_000;
  while (exporter.getFinishedSpans().length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return exporter.getFinishedSpans().map((s) => [SpanKind[s.kind], s.instrumentationScope.name, s.attributes['url.path'] ?? s.attributes['http.target']]);
}

function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nhost: db\r\nconnection: close\r\n\r\n`);
  });
}

describe('a mesh alongside instrumentation-http and instrumentation-undici', () => {
  const resolver = new StaticResolver();
  let db: Mesh;
  let web: Mesh;
  let port = 0;
  const traceparents: number[] = [];

  before(async () => {
    sdk.start();
    // require-in-the-middle patches core modules when they are next required.
    const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
    db = await createMesh({ resolver: new StaticResolver(), service: 'db', server: { drainDelayMs: 0 } });
    const server = db.wrapServer(
      http.createServer((req, res) => {
        traceparents.push(req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'traceparent').length);
        setServerRoute(req, '/rows/:id');
        res.end('row');
      }),
      { register: false },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    resolver.set('db', [{ address: '127.0.0.1', port }]);
    web = await createMesh({ resolver, service: 'web' });
  });

  after(async () => {
    await web.close();
    await db.close();
    await sdk.shutdown();
  });

  it("one SERVER span (enriched), one CLIENT span per request (undici's), the mesh span INTERNAL, one traceparent", async () => {
    exporter.reset();
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('root', async (root) => {
      const r = await web.request('http://db/rows/3');
      assert.equal(await r.body.text(), 'row');
      root.end();
    });
    const deadline = Date.now() + 2_000;
    while (exporter.getFinishedSpans().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const spans = exporter.getFinishedSpans();
    console.log(spans.map((s) => `${SpanKind[s.kind]} ${s.name} [${s.instrumentationScope.name}] ${s.spanContext().spanId}<-${s.parentSpanContext?.spanId ?? '-'}`).join('\n'));
    assert.equal(spans.length, 4);
    const mesh = spans.find((s) => s.instrumentationScope.name === 'hyphae')!;
    const undici = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
    assert.equal(mesh.kind, SpanKind.INTERNAL, 'the per-call span steps back to INTERNAL');
    assert.equal(mesh.attributes['hyphae.destination.service'], 'db');
    assert.equal(mesh.events.filter((e) => e.name === 'hyphae.attempt').length, 1);
    assert.equal(undici.instrumentationScope.name, '@opentelemetry/instrumentation-undici');
    assert.equal(undici.parentSpanContext?.spanId, mesh.spanContext().spanId);
    assert.equal(servers.length, 1, 'one SERVER span');
    const server = servers[0]!;
    assert.equal(server.instrumentationScope.name, '@opentelemetry/instrumentation-http');
    assert.equal(server.parentSpanContext?.spanId, undici.spanContext().spanId);
    assert.equal(server.attributes['hyphae.service'], 'db', 'enriched with the mesh attributes');
    assert.equal(server.attributes['http.route'], '/rows/:id', 'the route reaches the instrumentation');
    assert.deepEqual(traceparents, [1], 'exactly one traceparent header');
  });

  it("an unsampled instrumentation span stays the request's only span: the mesh makes no second root", async () => {
    exporter.reset();
    // The instrumentation's root is dropped; a root the mesh asked for next would be sampled.
    roots.plan = [false, true];
    assert.match(await rawGet(port, '/rows/4'), /row$/);
    assert.deepEqual(roots.plan, [true], "one root decision for the request: the instrumentation's");
    roots.plan = [];
    // A sampled request after it: once its SERVER span is exported, the one before would have been too.
    assert.match(await rawGet(port, '/rows/5'), /row$/);
    assert.deepEqual(await exportedSpans(), [['SERVER', '@opentelemetry/instrumentation-http', '/rows/5']]);
  });

  it('a request the instrumentation ignores gets no span of the mesh either', async () => {
    exporter.reset();
    assert.match(await rawGet(port, '/health'), /row$/);
    assert.match(await rawGet(port, '/rows/6'), /row$/);
    assert.deepEqual(await exportedSpans(), [['SERVER', '@opentelemetry/instrumentation-http', '/rows/6']]);
  });

  it("http.server.request.duration is recorded once per request: instrumentation-http's", async () => {
    const { resourceMetrics } = await reader.collect();
    const histograms = resourceMetrics.scopeMetrics.flatMap((sm) =>
      sm.metrics.filter((m) => m.descriptor.name === 'http.server.request.duration').map((m) => ({ scope: sm.scope.name, m: m as HistogramMetricData })),
    );
    const count = (scope: string) => histograms.filter((h) => h.scope === scope).reduce((n, h) => n + h.m.dataPoints.reduce((k, p) => k + p.value.count, 0), 0);
    // db served: one call through the mesh and two raw requests (the ignored /health is not observed).
    assert.equal(count('@opentelemetry/instrumentation-http'), 4, JSON.stringify(histograms.map((h) => h.scope)));
    assert.equal(count('hyphae'), 0, 'the mesh leaves the server histogram to instrumentation-http');
    // The client side is the mesh's logical call (undici's histogram has its own name).
    const client = resourceMetrics.scopeMetrics.find((sm) => sm.scope.name === 'hyphae')?.metrics.find((m) => m.descriptor.name === 'http.client.request.duration');
    assert.ok(client, 'the mesh still records its client duration');
  });

  it("the mesh's own calls to the control plane (registration, watch, stats) are not traced as application traffic", async () => {
    const cp = await startControlPlane({ insecure: true });
    try {
      exporter.reset();
      const probe = await createMesh({ ...(await cp.meshOptions('probe')), telemetry: { statsIntervalMs: 250 } });
      const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
      const server = probe.wrapServer(http.createServer((_req, res) => res.end('ok')));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      // A call to a service registered nowhere: the mesh watches it on the control plane.
      await assert.rejects(probe.request('http://nobody/'));
      await new Promise((r) => setTimeout(r, 600)); // a few stats reports
      await probe.close();
      const mine = exporter.getFinishedSpans().filter((s) => String(s.attributes['url.full'] ?? '').startsWith(cp.url));
      assert.deepEqual(
        mine.map((s) => `${SpanKind[s.kind]} ${s.name} ${String(s.attributes['url.full'])}`),
        [],
        'no span of a request to the control plane',
      );
      assert.ok(
        exporter.getFinishedSpans().some((s) => s.attributes['hyphae.destination.service'] === 'nobody'),
        "the application's call is traced",
      );
    } finally {
      await cp.stop();
    }
  });
});
