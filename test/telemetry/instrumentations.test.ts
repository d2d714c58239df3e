/**
 * With @opentelemetry/instrumentation-http and instrumentation-undici
 * installed, a real mesh (createMesh, wrapServer) adds to their spans instead
 * of doubling them: the server request keeps one SERVER span
 * (instrumentation-http's, enriched with the mesh's attributes — wrapServer
 * runs its stack inside the instrumentation's patched emit), each physical
 * request keeps one CLIENT span (undici's), the mesh's per-call span becomes
 * INTERNAL, and one traceparent goes out.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SpanKind, trace } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createMesh, setServerRoute, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';

process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';
const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({
  serviceName: 'instrumented',
  spanProcessors: [new SimpleSpanProcessor(exporter)],
  instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation()],
});

describe('a mesh alongside instrumentation-http and instrumentation-undici', () => {
  const resolver = new StaticResolver();
  let db: Mesh;
  let web: Mesh;
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
    resolver.set('db', [{ address: '127.0.0.1', port: (server.address() as AddressInfo).port }]);
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
});
