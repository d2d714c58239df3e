/**
 * Traces through the telemetry filters with a real SDK (@opentelemetry/sdk-node,
 * in-memory exporter): a chain of three services on loopback, each hop's
 * client and server spans parented correctly, attempts of a retried call
 * visible, attribute names per the stable HTTP semantic conventions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { setServerRoute } from '../../src/telemetry/server-request.js';
import { startTracedServer, TestClient, type TestService } from '../helpers/telemetry-stack.js';

// Traces only: without this, sdk-node sets up OTLP metric and log exporters that retry against nothing at shutdown.
process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';
const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({ serviceName: 'tracing-test', spanProcessors: [new SimpleSpanProcessor(exporter)], instrumentations: [] });

describe('tracing through the mesh filters (sdk-node, in-memory exporter)', () => {
  const services: TestService[] = [];
  const clients: TestClient[] = [];
  let front: TestClient;
  const resolver = new StaticResolver();
  let dbHits = 0;

  before(async () => {
    sdk.start();
    // db: answers 503 to every other request, so a caller's retry is exercised.
    const dbT = new MeshTelemetry({ service: 'db' });
    const db = await startTracedServer(dbT, (req, res) => {
      setServerRoute(req, '/rows/:id');
      res.statusCode = dbHits++ % 2 === 0 ? 503 : 200;
      res.end('row');
    });
    // api: calls db through its own client stack, inside its request handler.
    const apiT = new MeshTelemetry({ service: 'api' });
    const apiClient = new TestClient(apiT, resolver);
    const api = await startTracedServer(apiT, (_req, res) => {
      void (async () => {
        const r = await apiClient.request('http://db/rows/7');
        const body = await r.body.text();
        res.end(`api(${r.statusCode} ${body}) baggage=${propagation.getBaggage(context.active())?.getEntry('tenant')?.value ?? '-'}`);
      })();
    });
    services.push(db, api);
    clients.push(apiClient);
    resolver.set('db', [{ address: '127.0.0.1', port: db.port }]);
    resolver.set('api', [{ address: '127.0.0.1', port: api.port }]);
    front = new TestClient(new MeshTelemetry({ service: 'web' }), resolver);
    clients.push(front);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(services.map((s) => s.close()));
    await sdk.shutdown();
  });

  it('one request through web -> api -> db makes one trace, parented hop by hop, with a visible retry', async () => {
    exporter.reset();
    const tracer = trace.getTracer('test');
    const baggage = propagation.createBaggage({ tenant: { value: 'acme' } });
    const text = await tracer.startActiveSpan('root', async (root) => {
      const ctx = propagation.setBaggage(context.active(), baggage);
      const res = await context.with(ctx, () => front.request('http://api/items?x=1'));
      const body = await res.body.text();
      root.end();
      return body;
    });
    assert.equal(text, 'api(200 row) baggage=acme', 'the retried call succeeded and baggage crossed the hop');
    // The server spans end on 'close', just after the client has the body: wait for them.
    const deadline = Date.now() + 2_000;
    while (exporter.getFinishedSpans().length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const spans = exporter.getFinishedSpans();
    const show = spans.map((s) => `${SpanKind[s.kind]} ${s.name} ${s.spanContext().spanId}<-${s.parentSpanContext?.spanId ?? '-'}`);
    console.log(`spans:\n  ${show.join('\n  ')}`);
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1, 'one trace');
    const root = one(spans, (s) => s.name === 'root');
    const webClient = one(spans, (s) => s.kind === SpanKind.CLIENT && s.attributes['server.address'] === 'api');
    const apiServer = one(spans, (s) => s.kind === SpanKind.SERVER && s.attributes['hyphae.service'] === 'api');
    const apiClient = one(spans, (s) => s.kind === SpanKind.CLIENT && s.attributes['server.address'] === 'db');
    const dbServers = spans.filter((s) => s.kind === SpanKind.SERVER && s.attributes['hyphae.service'] === 'db');
    assert.equal(spans.length, 6, show.join('\n'));
    assert.equal(parentOf(webClient), root.spanContext().spanId);
    assert.equal(parentOf(apiServer), webClient.spanContext().spanId);
    assert.equal(parentOf(apiClient), apiServer.spanContext().spanId);
    assert.equal(dbServers.length, 2, 'two attempts reached db');
    for (const s of dbServers) assert.equal(parentOf(s), apiClient.spanContext().spanId, 'each attempt is a child of the logical client span');

    // semconv names on the client span.
    assert.equal(webClient.name, 'GET');
    assert.equal(webClient.attributes['http.request.method'], 'GET');
    assert.equal(webClient.attributes['url.full'], 'http://api/items?x=1');
    assert.equal(webClient.attributes['http.response.status_code'], 200);
    assert.equal(webClient.attributes['hyphae.destination.service'], 'api');
    assert.equal(webClient.attributes['hyphae.service'], 'web');
    assert.equal(webClient.attributes['hyphae.outcome'], 'success');
    assert.equal(webClient.attributes['http.request.resend_count'], undefined, 'no resend on the first hop');

    // The retried hop: resend count, one event per attempt, the retry reason on the second.
    assert.equal(apiClient.attributes['http.request.resend_count'], 1);
    const attempts = apiClient.events.filter((e) => e.name === 'hyphae.attempt');
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0]!.attributes!['http.request.resend_count'], 0);
    assert.equal(attempts[0]!.attributes!['http.response.status_code'], 503);
    assert.equal(attempts[1]!.attributes!['http.request.resend_count'], 1);
    assert.equal(attempts[1]!.attributes!['http.response.status_code'], 200);
    assert.equal(attempts[1]!.attributes!['hyphae.retry.reason'], '503');
    assert.match(String(attempts[1]!.attributes!['hyphae.endpoint']), /^127\.0\.0\.1:\d+$/);

    // Server spans: semconv attributes, the route the application named, 5xx marked as an error.
    const failedDb = dbServers.find((s) => s.attributes['http.response.status_code'] === 503)!;
    const okDb = dbServers.find((s) => s.attributes['http.response.status_code'] === 200)!;
    assert.equal(okDb.name, 'GET /rows/:id');
    assert.equal(okDb.attributes['http.route'], '/rows/:id');
    assert.equal(okDb.attributes['url.path'], '/rows/7');
    assert.equal(okDb.attributes['url.scheme'], 'http');
    assert.equal(okDb.status.code, 0);
    assert.equal(failedDb.attributes['error.type'], '503');
    assert.equal(failedDb.status.code, 2);
    assert.equal(apiServer.attributes['network.protocol.version'], '1.1');
    assert.equal(typeof apiServer.attributes['network.peer.port'], 'number');
  });

  it('a call that fails without a response ends its span as an error with error.type', async () => {
    exporter.reset();
    resolver.set('gone', [{ address: '127.0.0.1', port: 9 }]);
    await assert.rejects(front.request('http://gone/x'));
    const span = one(exporter.getFinishedSpans(), (s) => s.attributes['server.address'] === 'gone');
    assert.equal(span.status.code, 2);
    assert.equal(span.attributes['error.type'], 'ECONNREFUSED');
    assert.equal(span.attributes['hyphae.outcome'], 'failure');
    assert.equal(span.events.length, 1);
  });

  it('an incoming traceparent with no active span becomes the parent of the server span', async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`http://127.0.0.1:${services[0]!.port}/rows/1`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    await res.text();
    const deadline = Date.now() + 2_000;
    while (exporter.getFinishedSpans().length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const span = one(exporter.getFinishedSpans(), (s) => s.kind === SpanKind.SERVER);
    assert.equal(span.spanContext().traceId, traceId);
    assert.equal(parentOf(span), '00f067aa0ba902b7');
    assert.equal(span.parentSpanContext?.isRemote, true);
  });
});

function one(spans: ReadableSpan[], pred: (s: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter(pred);
  assert.equal(found.length, 1, `expected one matching span, got ${found.length}`);
  return found[0]!;
}

function parentOf(s: ReadableSpan): string | undefined {
  return s.parentSpanContext?.spanId;
}
