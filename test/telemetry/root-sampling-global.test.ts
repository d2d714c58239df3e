/**
 * Roots settled by the mesh with the SDK set up as services do: sdk-node
 * registered globally (the mesh's tracer is the API's proxy to it) with a
 * parent-based ratio sampler. The fast path must engage through the proxy,
 * keep the ratio, and leave a call made with tracing suppressed (the mesh's
 * own traffic, an instrumentation's exporter) without a span or a header.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, createContextKey, SpanKind, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { listenWrapped } from '../helpers/http-servers.js';
import { startSpanCalls } from '../helpers/start-span-count.js';

/** @opentelemetry/core's suppressTracing key, as the SDK and its instrumentations read it. */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');
process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';
const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({
  serviceName: 'root-sampling-global',
  sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.4) }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
  instrumentations: [],
});

describe('roots under a globally registered sdk-node with a ratio sampler', () => {
  const resolver = new StaticResolver();
  let client: Mesh;
  let api: Mesh;
  const seen: (string | undefined)[] = [];

  before(async () => {
    sdk.start();
    api = await createMesh({ resolver: new StaticResolver(), service: 'api', server: { drainDelayMs: 0 } });
    const port = await listenWrapped(api, (req, res) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.end('ok');
    });
    resolver.set('api', [{ address: '127.0.0.1', port }]);
    client = await createMesh({ resolver, service: 'client' });
  });

  after(async () => {
    await client.close();
    await api.close();
    await sdk.shutdown();
  });

  it('keeps the ratio, and the SDK is asked only for the roots it keeps (and their server spans)', async () => {
    exporter.reset();
    seen.length = 0;
    const n = 1_000;
    // Through the API's proxy tracer to the SDK's Tracer class.
    const asked = await startSpanCalls(trace.getTracer('probe'), async () => {
      for (let i = 0; i < n; i++) await (await client.request('http://api/x')).body.dump();
    });
    const kept = seen.filter((tp) => tp?.endsWith('-01')).length;
    assert.equal(seen.length, n);
    assert.ok(
      seen.every((tp) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/.test(tp ?? '')),
      'every call carried a traceparent',
    );
    // sd of the fraction over 1,000 at 0.4 is 0.0155: +-0.065 is 4.2 sd.
    assert.ok(Math.abs(kept / n - 0.4) < 0.065, `kept ${kept} of ${n}`);
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.filter((s) => s.kind === SpanKind.CLIENT).length, kept);
    assert.equal(spans.filter((s) => s.kind === SpanKind.SERVER).length, kept);
    assert.equal(asked, spans.length, 'no startSpan for a dropped root or its unsampled server side');
  });

  it('a call made with tracing suppressed makes no span and sends no traceparent', async () => {
    exporter.reset();
    seen.length = 0;
    await context.with(context.active().setValue(SUPPRESS_TRACING, true), async () => {
      for (let i = 0; i < 20; i++) await (await client.request('http://api/x')).body.dump();
    });
    assert.deepEqual(seen, Array(20).fill(undefined));
    assert.equal(exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT).length, 0);
  });
});
