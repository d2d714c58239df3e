/**
 * Without any OpenTelemetry SDK anywhere, the W3C trace context still flows
 * end to end (issue 6, must-show 2): web -> api -> db as real processes
 * (createMesh, wrapServer, mTLS), none loading an SDK; this test process is a
 * mesh client without one either. Each service answers with the trace headers
 * it received, and nests what its calls answered, so the front sees every hop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { propagation, trace } from '@opentelemetry/api';
import { createMesh, type Mesh } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startTelemetryService, type TelemetryService } from '../helpers/telemetry-services.js';

interface Hop {
  service: string;
  /** What the handler reads of its request's trace (getTraceId). */
  traceId: string | null;
  trace: { traceparent: string | null; tracestate: string | null; baggage: string | null };
  calls?: { body: Hop }[];
}

/** The trace headers each hop received, front to back. */
function hops(body: Hop): Hop['trace'][] {
  const out: Hop['trace'][] = [];
  for (let h: Hop | undefined = body; h; h = h.calls?.[0]?.body) out.push(h.trace);
  return out;
}

describe('trace context pass-through with no SDK, through real mesh processes', { timeout: 120_000 }, () => {
  let cp: RunningControlPlane;
  let mesh: Mesh;
  const services: TelemetryService[] = [];

  before(async () => {
    assert.equal(propagation.fields().length, 0, 'no propagator in this process');
    assert.equal(trace.getTracerProvider().getTracer('x').startSpan('x').isRecording(), false, 'no SDK in this process');
    cp = await startControlPlane();
    services.push(
      ...(await Promise.all([
        startTelemetryService(cp, 'db', 'db'),
        // api waits before it calls db, so the context must survive timers and awaits in a process with no context manager.
        startTelemetryService(cp, 'api', 'api', { env: { CALLS: 'db', DELAY_MS: '15' } }),
        startTelemetryService(cp, 'web', 'web', { env: { CALLS: 'api' } }),
      ])),
    );
    mesh = await createMesh(await cp.meshOptions('test-client'));
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(services.map((s) => s.child.kill('SIGTERM')));
    await cp?.stop();
  });

  const get = async (headers?: Record<string, string>) => {
    const res = await mesh.request('http://web/items', headers ? { headers } : undefined);
    assert.equal(res.statusCode, 200);
    return hops((await res.body.json()) as Hop);
  };

  it('traceparent, tracestate and baggage reach every hop unchanged', async () => {
    const sent = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
      baggage: 'tenant=acme,region=eu%2Dwest;prop=1',
    };
    const seen = await get(sent);
    console.log(`sent     ${sent.traceparent}\n${seen.map((h, i) => `hop ${i + 1}    ${h.traceparent}`).join('\n')}`);
    assert.equal(seen.length, 3, 'web, api, db');
    for (const h of seen) assert.deepEqual(h, sent);
  });

  it('concurrent requests each carry their own context through the chain', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `00-${(i + 1).toString(16).padStart(32, '0')}-${'b'.repeat(15)}${(i % 10).toString()}-01`);
    const results = await Promise.all(ids.map((traceparent) => get({ traceparent })));
    results.forEach((seen, i) => {
      assert.equal(seen.length, 3);
      for (const h of seen) assert.equal(h.traceparent, ids[i]);
    });
  });

  it('a malformed traceparent is dropped at the first hop, which starts a trace of its own (not sampled); so does a request without one', async () => {
    const fresh = /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/;
    const ids = new Set<string>();
    for (const bad of [
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      `00-${'0'.repeat(32)}-b7ad6b7169203331-01`,
      'junk',
      undefined,
    ]) {
      const seen = await get(bad === undefined ? undefined : { traceparent: bad });
      assert.equal(seen[0]!.traceparent, bad ?? null, 'web received what was sent');
      const next = seen.slice(1).map((h) => h.traceparent);
      assert.match(next[0] ?? '', fresh, `${bad} goes no further: web starts a trace`);
      assert.equal(next[1], next[0], 'api carries it on to db as it came');
      ids.add(next[0]!.slice(3, 35));
    }
    assert.equal(ids.size, 5, 'a new trace per request');
  });

  it('every hop can name the trace id of its request, the one web started included', async () => {
    const res = await mesh.request(`http://web/`);
    const body = (await res.body.json()) as Hop;
    const started = body.calls![0]!.body.trace.traceparent!;
    assert.equal(body.traceId, started.slice(3, 35));
    assert.equal(body.calls![0]!.body.traceId, started.slice(3, 35));
  });
});
