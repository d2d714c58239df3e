/**
 * Spans of a real mesh in one process (createMesh, wrapServer, loopback
 * sockets, a StaticResolver), with @opentelemetry/sdk-node and an in-memory
 * exporter: the edge cases the multi-process trace (test/scenarios/tracing)
 * does not reach — a call that fails without a response, an incoming
 * traceparent with no span active, baggage across a hop.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createMesh, setServerRoute, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';

process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';
const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({ serviceName: 'tracing-test', spanProcessors: [new SimpleSpanProcessor(exporter)], instrumentations: [] });

async function waitForSpans(n: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (exporter.getFinishedSpans().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('spans of a mesh in one process (sdk-node, in-memory exporter)', () => {
  const resolver = new StaticResolver();
  let api: Mesh;
  let web: Mesh;
  let port = 0;
  let midPort = 0;
  let sickPort = 0;

  before(async () => {
    sdk.start();
    api = await createMesh({ resolver: new StaticResolver(), service: 'api', server: { drainDelayMs: 0 } });
    const server = api.wrapServer(
      http.createServer((req, res) => {
        if (req.url === '/traceparent') return void res.end(req.headers.traceparent ?? '-');
        setServerRoute(req, '/rows/:id');
        res.end(`baggage=${propagation.getBaggage(context.active())?.getEntry('tenant')?.value ?? '-'}`);
      }),
      { register: false },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    resolver.set('api', [{ address: '127.0.0.1', port }]);
    resolver.set('gone', [{ address: '127.0.0.1', port: 9 }]);
    // An endpoint that answers every request 503: outlier detection ejects it after 5 failed attempts in a row.
    const sick = http.createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((resolve) => sick.listen(0, '127.0.0.1', resolve));
    sickPort = (sick.address() as AddressInfo).port;
    sick.unref();
    resolver.set('sick', [{ address: '127.0.0.1', port: sickPort }]);
    web = await createMesh({ resolver, service: 'web' });
    // A service in the middle: what it receives, it passes on to api through its mesh.
    const mid = web.wrapServer(
      http.createServer((_req, res) => {
        void web.request('http://api/traceparent').then(
          (r) => r.body.text().then((t) => res.end(t)),
          () => res.writeHead(500).end(),
        );
      }),
      { register: false },
    );
    await new Promise<void>((resolve) => mid.listen(0, '127.0.0.1', resolve));
    midPort = (mid.address() as AddressInfo).port;
  });

  after(async () => {
    await web.close();
    await api.close();
    await sdk.shutdown();
  });

  it("baggage set by the caller reaches the handler; the server span is the client span's child", async () => {
    exporter.reset();
    const ctx = propagation.setBaggage(context.active(), propagation.createBaggage({ tenant: { value: 'acme' } }));
    const text = await context.with(ctx, async () => (await web.request('http://api/rows/1')).body.text());
    assert.equal(text, 'baggage=acme');
    await waitForSpans(2);
    const client = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
    const server = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(server.parentSpanContext?.spanId, client.spanContext().spanId);
    assert.equal(server.name, 'GET /rows/:id');
  });

  it('a call that fails without a response ends its span as an error with error.type', async () => {
    exporter.reset();
    await assert.rejects(web.request('http://gone/x'));
    const span = exporter.getFinishedSpans().find((s) => s.attributes['server.address'] === 'gone')!;
    assert.ok(span, 'the call has its span');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], 'HYPHAE_ERR_CONNECT_FAILED');
    assert.equal(span.attributes['hyphae.error.code'], 'HYPHAE_ERR_CONNECT_FAILED');
    assert.equal(span.attributes['hyphae.outcome'], 'failure');
    assert.ok(span.events.length >= 1, 'its attempts');
    assert.ok(
      span.events.every((e) => e.name === 'hyphae.attempt' && e.attributes?.['error.type'] === 'ECONNREFUSED'),
      JSON.stringify(span.events),
    );
  });

  it('an incoming traceparent with no active span becomes the remote parent of the server span', async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`http://127.0.0.1:${port}/rows/1`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    await res.text();
    await waitForSpans(1);
    const span = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(span.spanContext().traceId, traceId);
    assert.equal(span.parentSpanContext?.spanId, '00f067aa0ba902b7');
    assert.equal(span.parentSpanContext?.isRemote, true);
    assert.equal(trace.getActiveSpan(), undefined, 'nothing leaks into the test');
  });

  it('under an unsampled incoming trace (the default parent-based sampler drops it) no span is made, and the trace goes on unsampled', async () => {
    exporter.reset();
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`http://127.0.0.1:${midPort}/`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-00` } });
    const received = await res.text();
    assert.equal(res.status, 200);
    // No span on the way: the caller's span id is the parent api sees (a span made and dropped would have its own id).
    assert.equal(received, `00-${traceId}-00f067aa0ba902b7-00`, 'api got the same trace, still unsampled, with no span in between');
    // The same request sampled makes the mesh's spans: the exporter would have seen them.
    const sampled = await fetch(`http://127.0.0.1:${midPort}/`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    assert.match(await sampled.text(), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    await waitForSpans(3);
    const spans = exporter.getFinishedSpans();
    assert.ok(spans.length >= 3, `the sampled request's spans: ${spans.length}`);
    assert.ok(
      spans.every((s) => s.spanContext().traceFlags === 1),
      'every exported span belongs to the sampled request',
    );
  });

  it('the call whose attempt ejects an endpoint has the ejection on its span', async () => {
    exporter.reset();
    for (let i = 0; i < 4; i++) {
      const res = await web.request('http://sick/x');
      await res.body.dump();
      assert.equal(res.statusCode, 503);
    }
    await waitForSpans(4);
    const calls = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT && s.attributes['server.address'] === 'sick');
    assert.equal(calls.length, 4);
    calls.sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    // consecutiveFailures is 5 by default: the call during which the 5th failed attempt was reported is the one.
    let seen = 0;
    const expected = calls.findIndex((s) => (seen += s.events.filter((e) => e.name === 'hyphae.attempt').length) >= 5);
    assert.ok(expected >= 0, `5 attempts in ${calls.length} calls`);
    calls.forEach((s, k) => {
      const ejections = s.events.filter((e) => e.name === 'hyphae.endpoint.ejected');
      if (k !== expected) return assert.equal(ejections.length, 0, `call ${k}: ${JSON.stringify(s.events)}`);
      assert.equal(ejections.length, 1, `call ${k}: ${JSON.stringify(s.events)}`);
      assert.deepEqual(ejections[0]!.attributes, { 'hyphae.endpoint': `127.0.0.1:${sickPort}`, 'hyphae.reason': 'consecutive-failures' });
    });
    // A 503 retried until the attempts ran out: the span says the retry layer's decision and why.
    assert.equal(calls[0]!.attributes['hyphae.retry.decision'], 'attempts-exhausted');
    assert.equal(calls[0]!.attributes['hyphae.retry.reason'], 'retriable-status');
  });
});
