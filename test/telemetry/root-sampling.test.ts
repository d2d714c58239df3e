/**
 * Roots settled by the mesh (src/telemetry/root-sampling.ts) against the
 * SDK's own sampler and tracer: the same decision on every id, the kept
 * fraction the ratio asks for, kept roots made by the SDK with the drawn ids,
 * and no fast path for samplers or id generators it cannot prove equal.
 * Then through real meshes on loopback (a tracer provider given in the
 * options, nothing global): roots at the client and at the server are kept
 * at the ratio, and a dropped root still carries its trace on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { listenWrapped } from '../helpers/http-servers.js';
import { startSpanCalls } from '../helpers/start-span-count.js';
import { RootSampling, spanIdOf, traceIdOf } from '../../src/telemetry/root-sampling.js';

function sdkTracer(sampler: Sampler, exporter = new InMemorySpanExporter(), idGenerator?: { generateTraceId(): string; generateSpanId(): string }) {
  const provider = new BasicTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(exporter)], ...(idGenerator ? { idGenerator } : {}) });
  return { provider, tracer: provider.getTracer('test'), exporter };
}

/** A root sampler that says it is the ratio sampler but decides on the id's last word only. */
class LastWordSampler implements Sampler {
  shouldSample(_c: unknown, traceId: string) {
    return { decision: parseInt(traceId.slice(24), 16) < 2 ** 31 ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }
  toString() {
    return 'TraceIdRatioBased{0.5}';
  }
}

describe('root sampling against the SDK', () => {
  it('decides every drawn id as the SDK sampler does, and keeps the ratio', () => {
    const sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.25) });
    const roots = RootSampling.of(sdkTracer(sampler).tracer)!;
    assert.ok(roots, 'the common configuration has a fast path');
    const n = 40_000;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const ids = roots.draw();
      const traceId = traceIdOf(ids.traceparent);
      assert.match(ids.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      assert.equal(ids.traceparent, `00-${traceId}-${spanIdOf(ids.traceparent)}-00`);
      const sdk = sampler.shouldSample(ROOT_CONTEXT, traceId, 'GET', SpanKind.CLIENT, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
      assert.equal(ids.sampled, sdk, `id ${traceId}`);
      if (ids.sampled) kept++;
    }
    // sd of the fraction over 40,000 at 0.25 is 0.0022: +-0.009 is 4 sd.
    assert.ok(Math.abs(kept / n - 0.25) < 0.009, `kept ${kept} of ${n}`);
  });

  it("a kept root is the SDK span with the drawn ids, and the id generator is the SDK's again after it", () => {
    const { tracer, exporter } = sdkTracer(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.5) }));
    const roots = RootSampling.of(tracer)!;
    const generator = (tracer as unknown as { _idGenerator: unknown })._idGenerator;
    let ids = roots.draw();
    while (!ids.sampled) ids = roots.draw();
    const span = roots.start(tracer, 'GET', { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET' } }, ROOT_CONTEXT, ids);
    assert.equal(span.isRecording(), true);
    assert.equal(span.spanContext().traceId, traceIdOf(ids.traceparent));
    assert.equal(span.spanContext().spanId, spanIdOf(ids.traceparent));
    span.end();
    const [done] = exporter.getFinishedSpans();
    assert.equal(done!.parentSpanContext, undefined, 'a root');
    assert.equal(done!.attributes['http.request.method'], 'GET');
    assert.equal((tracer as unknown as { _idGenerator: unknown })._idGenerator, generator);
    // The next span the SDK makes by itself has ids of its own.
    const other = tracer.startSpan('x');
    assert.notEqual(other.spanContext().traceId, traceIdOf(ids.traceparent));
    assert.equal(roots.usable, true);
  });

  it('stops deciding roots once the SDK disagrees with a decision', () => {
    const { tracer } = sdkTracer(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.5) }));
    const roots = RootSampling.of(tracer)!;
    let ids = roots.draw();
    while (ids.sampled) ids = roots.draw();
    // Started as kept although the sampler drops it: what a changed SDK would do.
    const span = roots.start(tracer, 'GET', {}, ROOT_CONTEXT, { ...ids, sampled: true });
    assert.equal(span.isRecording(), false);
    assert.equal(roots.usable, false);
  });

  it('has no fast path for other samplers, a look-alike ratio sampler, or another id generator', () => {
    assert.equal(RootSampling.of(sdkTracer(new AlwaysOnSampler()).tracer), undefined);
    assert.equal(RootSampling.of(sdkTracer(new TraceIdRatioBasedSampler(0.1)).tracer), undefined, 'not parent-based');
    assert.equal(RootSampling.of(sdkTracer(new ParentBasedSampler({ root: new LastWordSampler() })).tracer), undefined, 'calibration refuses it');
    const ids = { generateTraceId: () => '4bf92f3577b34da6a3ce929d0e0e4736', generateSpanId: () => '00f067aa0ba902b7' };
    assert.equal(RootSampling.of(sdkTracer(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) }), undefined, ids).tracer), undefined);
    assert.equal(RootSampling.of({}), undefined);
    assert.ok(RootSampling.of(sdkTracer(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) })).tracer), 'ratio 0');
    assert.ok(RootSampling.of(sdkTracer(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(1) })).tracer), 'ratio 1');
  });
});

describe('roots through real meshes (ratio 0.3, tracer provider in the options)', () => {
  const exporter = new InMemorySpanExporter();
  const { provider: tracerProvider } = sdkTracer(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.3) }), exporter);
  const resolver = new StaticResolver();
  const meshes: Mesh[] = [];
  let client: Mesh;
  let apiPort = 0;
  let frontPort = 0;
  const seen: string[] = [];
  const logs: Record<string, unknown>[] = [];

  before(async () => {
    const mesh = async (service: string) => {
      const accessLog = (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>);
      const m = await createMesh({ resolver, service, server: { drainDelayMs: 0 }, telemetry: { tracerProvider, accessLog } });
      meshes.push(m);
      return m;
    };
    const api = await mesh('api');
    apiPort = await listenWrapped(api, (req, res) => {
      seen.push(String(req.headers.traceparent));
      res.end('ok');
    });
    resolver.set('api', [{ address: '127.0.0.1', port: apiPort }]);
    const front = await mesh('front');
    frontPort = await listenWrapped(front, (_req, res) => {
      void front.request('http://api/x').then(
        (r) => r.body.text().then(() => res.end('front')),
        () => res.writeHead(500).end(),
      );
    });
    client = await mesh('client');
  });

  after(async () => {
    for (const m of meshes) await m.close();
  });

  it('client roots: kept at the ratio, each kept one exported with the trace id the server received, and startSpan asked for no other', async () => {
    exporter.reset();
    seen.length = 0;
    const n = 1_500;
    // Every span the SDK is asked for, across the meshes' tracers (one class).
    const asked = await startSpanCalls(tracerProvider.getTracer('count'), async () => {
      for (let i = 0; i < n; i++) await (await client.request('http://api/x')).body.dump();
    });
    const clientSpans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    // Kept roots and their server spans; a dropped root is not asked of the SDK, nor is the server's unsampled child.
    assert.equal(asked, exporter.getFinishedSpans().length, `startSpan calls for ${clientSpans.length} kept roots`);
    const sent = seen.map((tp) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/.exec(tp));
    assert.ok(
      sent.every((m) => m !== null),
      'every request carried a traceparent',
    );
    const keptIds = new Set(sent.filter((m) => m![3] === '1').map((m) => m![1]));
    // sd of the fraction over 1,500 at 0.3 is 0.0118: +-0.05 is 4.2 sd.
    assert.ok(Math.abs(keptIds.size / n - 0.3) < 0.05, `kept ${keptIds.size} of ${n}`);
    assert.deepEqual(new Set(clientSpans.map((s) => s.spanContext().traceId)), keptIds, 'the exported client spans are exactly the kept traces');
    assert.equal(new Set(sent.map((m) => m![1])).size, n, 'a trace id per root');
    assert.equal(trace.getActiveSpan(), undefined);
  });

  it('a call whose headers are a Map or a Headers object carries them and the traceparent', async () => {
    seen.length = 0;
    for (const headers of [
      new Map([
        ['accept', 'x'],
        ['x-a', 'y'],
      ]),
      new Headers({ accept: 'x', 'x-a': 'y' }),
    ]) {
      const res = await client.request('http://api/x', { headers: headers as unknown as Record<string, string> });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    assert.equal(seen.length, 2);
    for (const tp of seen) assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });

  it('server roots: kept at the ratio; a dropped root carries its trace id on, unsampled, to the next hop', async () => {
    exporter.reset();
    seen.length = 0;
    const n = 1_500;
    for (let i = 0; i < n; i++) {
      const res = await fetch(`http://127.0.0.1:${frontPort}/`);
      assert.equal(await res.text(), 'front');
    }
    const servers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER && s.parentSpanContext === undefined);
    assert.ok(Math.abs(servers.length / n - 0.3) < 0.05, `kept ${servers.length} of ${n}`);
    const keptIds = new Set(servers.map((s) => s.spanContext().traceId));
    const sent = seen.map((tp) => /^00-([0-9a-f]{32})-[0-9a-f]{16}-0([01])$/.exec(tp)!);
    assert.equal(sent.length, n);
    for (const [, traceId, flag] of sent) assert.equal(flag === '1', keptIds.has(traceId!), `trace ${traceId} flag ${flag}`);
    assert.equal(new Set(sent.map((m) => m[1])).size, n, 'a trace id per root');
  });

  it('access log lines name the trace of a dropped root on every side; span ids only where a span was made', async () => {
    seen.length = 0;
    logs.length = 0;
    for (let i = 0; i < 200; i++) assert.equal(await (await fetch(`http://127.0.0.1:${frontPort}/`)).text(), 'front');
    const [, traceId, parentSpan, flag] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/.exec(seen.find((tp) => tp.endsWith('-00'))!)!;
    assert.equal(flag, '0');
    const lines = logs.filter((l) => l.trace_id === traceId);
    const line = (service: string, side: string) => lines.find((l) => l.service === service && l.side === side)!;
    // front's SERVER side is the root: its span id is the parent api received; its call made no span of its own.
    assert.equal(line('front', 'server').span_id, parentSpan);
    assert.equal(line('front', 'client').span_id, undefined);
    assert.equal(line('front', 'client').peer, 'api');
    // api carried the unsampled caller's context on without a span.
    assert.equal(line('api', 'server').span_id, undefined);
    assert.equal(lines.length, 3, JSON.stringify(lines));
  });
});
