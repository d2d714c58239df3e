/**
 * The telemetry of a routed call names the backend its rule chose, not the
 * destination the call was made to: end to end, the control plane as a child
 * process, services `a` and `b` built with the library under mTLS, the
 * gateway in process (curl outside), and a mesh client `web`, each with its
 * own in-memory span exporter and metric reader.
 *
 *   - gateway: its routes' first backend is `a`, so `a` carries every call;
 *     a call its rule sends to `b` is `b`'s on the span, the duration metric,
 *     the retry event and counter, and the active-requests gauge;
 *   - Service parent: `web` calls `http://a/split/...`, which a Route of `a`
 *     sends to `b`: the same, but url.full keeps the URL web asked for.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { startGateway, type RunningGateway } from '../../src/gateway/start-gateway.js';
import type { RetryHookEvent } from '../../src/resilience/hooks.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { apply, boundPort, curl, meta, startBackend, type Backend } from '../helpers/gateway.js';

const STALL_MS = 30_000;
const API = 'hyphae.dev/v1';

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** What one process records: its spans, its metrics, its retry events. */
class Recorded {
  readonly exporter = new InMemorySpanExporter();
  readonly tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.exporter)] });
  readonly reader = new TestReader();
  readonly meterProvider = new MeterProvider({ readers: [this.reader] });
  readonly retries: RetryHookEvent[] = [];
  readonly options = { telemetry: { tracerProvider: this.tracerProvider, meterProvider: this.meterProvider }, hooks: { onRetry: (e: RetryHookEvent) => this.retries.push(e) } };

  /** The CLIENT span of the call whose url.full has `path`. */
  async clientSpan(path: string): Promise<ReadableSpan> {
    let found: ReadableSpan | undefined;
    await waitUntil(() => (found = this.exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT && urlPath(s) === path)) !== undefined, STALL_MS, `the client span of ${path}`);
    return found!;
  }

  async metric(name: string): Promise<DataPoint<unknown>[]> {
    const { resourceMetrics } = await this.reader.collect();
    const m: MetricData | undefined = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === name);
    return (m?.dataPoints ?? []) as DataPoint<unknown>[];
  }

  async close(): Promise<void> {
    await this.tracerProvider.shutdown();
    await this.meterProvider.shutdown();
  }
}

/** A client span's path, from its url.full (a call no rule sent anywhere has none). */
function urlPath(s: ReadableSpan): string | undefined {
  const full = s.attributes['url.full'];
  return typeof full === 'string' ? new URL(full).pathname : undefined;
}

const service = (name: string): object => ({ apiVersion: API, kind: 'Service', metadata: meta(name), spec: {} });

const GATEWAY_ROUTE = {
  apiVersion: API,
  kind: 'Route',
  metadata: meta('edge-route'),
  spec: {
    parentRefs: [{ kind: 'Gateway', name: 'edge' }],
    rules: [
      // First: `a` is the carrier of every call of the gateway.
      { name: 'to-a', matches: [{ path: { type: 'PathPrefix', value: '/a' } }], backendRefs: [{ name: 'a' }] },
      // b's own timeouts are none: this rule's ends a held call.
      { name: 'b-in-time', matches: [{ path: { type: 'PathPrefix', value: '/b/in-time' } }], timeouts: { request: '300ms' }, backendRefs: [{ name: 'b' }] },
      { name: 'to-b', matches: [{ path: { type: 'PathPrefix', value: '/b' } }], backendRefs: [{ name: 'b' }] },
    ],
  },
};

/** A Route of Service `a` that sends its /split calls to another service, `b` (a split across services). */
const SPLIT_ROUTE = {
  apiVersion: API,
  kind: 'Route',
  metadata: meta('a-split'),
  spec: {
    parentRefs: [{ kind: 'Service', name: 'a' }],
    rules: [{ name: 'split-to-b', matches: [{ path: { type: 'PathPrefix', value: '/split' } }], backendRefs: [{ name: 'b' }] }],
  },
};

describe('telemetry of a routed call: the backend its rule chose, not the destination called', () => {
  let cp: RunningControlPlane;
  let a: Backend;
  let b: Backend;
  let gw: RunningGateway;
  let web: Mesh;
  let port: number;
  const atGateway = new Recorded();
  const atWeb = new Recorded();
  /** b's held responses (paths with /hold), and who waits for the next one. */
  const held: http.ServerResponse[] = [];
  let onHeld: (() => void) | undefined;
  /** Paths with /flaky that b answered 503 once already. */
  const failedOnce = new Set<string>();
  const release = () => {
    for (const res of held.splice(0)) if (!res.writableEnded) res.end('released');
  };

  before(async () => {
    cp = await startControlPlane();
    await apply(cp, service('a'), service('b'), {
      apiVersion: API,
      kind: 'Gateway',
      metadata: meta('edge'),
      spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
    });
    await apply(cp, GATEWAY_ROUTE, SPLIT_ROUTE);
    a = await startBackend(cp, 'a');
    b = await startBackend(cp, 'b', 'b', 0, (req, res) => {
      const url = req.url!;
      if (url.includes('/flaky') && !failedOnce.has(url)) {
        failedOnce.add(url);
        res.statusCode = 503;
        res.end('once');
        return true;
      }
      if (!url.includes('/hold')) return false;
      held.push(res);
      onHeld?.();
      return true;
    });
    gw = await startGateway({
      mesh: { ...(await cp.meshOptions('edge')), ...atGateway.options },
      name: 'edge',
      host: '127.0.0.1',
      ports: { 8080: 0 },
      admin: false,
      drainDelayMs: 0,
      gracePeriodMs: 5_000,
      logger: silentLogger,
    });
    await gw.ready;
    port = boundPort(gw, 8080);
    web = await createMesh({ ...(await cp.meshOptions('web')), ...atWeb.options, logger: silentLogger });
  });

  after(async () => {
    release();
    await web?.close();
    await gw?.close();
    await a?.close();
    await b?.close();
    await cp?.stop();
    await atGateway.close();
    await atWeb.close();
  });

  const get = (path: string) => curl([`http://127.0.0.1:${port}${path}`]);
  /** Holds one call at b (started by `start`) while `check` runs, then lets it end. */
  const whileHeld = async (start: () => Promise<unknown>, check: () => Promise<void>) => {
    const heldNow = new Promise<void>((resolve) => (onHeld = resolve));
    const holding = start();
    await heldNow;
    onHeld = undefined;
    try {
      await check();
    } finally {
      release();
      await holding;
    }
  };
  /** The active-requests gauge by server.address (none for a name without a point). */
  const active = async (r: Recorded) => {
    const out = new Map<unknown, number>();
    for (const p of await r.metric('http.client.active_requests')) out.set(p.attributes['server.address'], p.value as number);
    return out;
  };

  it('gateway: a call its rule sends to b is b’s on its span', async () => {
    const r = await get('/b/flaky/1');
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { service: string }).service, 'b');
    const span = await atGateway.clientSpan('/b/flaky/1');
    assert.equal(span.attributes['server.address'], 'b', 'the host the request went to, not the carrier a');
    assert.equal(span.attributes['hyphae.destination.service'], 'b');
    assert.equal(span.attributes['hyphae.destination.namespace'], 'default');
    assert.equal(span.attributes['url.full'], 'http://b/b/flaky/1', 'nobody asked for the carrier’s URL');
    assert.equal(span.attributes['hyphae.route'], 'to-b');
    assert.equal(span.attributes['http.request.resend_count'], 1, 'b answered 503 once: one retry');
  });

  it('gateway: that call’s retry is b’s, on the retry event and the retry counter', async () => {
    assert.deepEqual(
      atGateway.retries.map((e) => [e.destination, e.namespace, e.decision]),
      [['b', 'default', 'retry']],
      'the retry event names b',
    );
    const retries = await atGateway.metric('hyphae.client.retries');
    assert.deepEqual(
      retries.map((p) => [p.attributes['server.address'], p.value]),
      [['b', 1]],
    );
  });

  it('gateway: that call is b’s on the duration metric', async () => {
    const durations = await atGateway.metric('http.client.request.duration');
    assert.deepEqual(
      durations.map((p) => p.attributes['server.address']),
      ['b'],
      'the one call so far is counted as b’s',
    );
  });

  it('gateway: a call in flight to b counts on b’s active-requests gauge, none on the carrier’s', async () => {
    await whileHeld(
      () => get('/b/hold'),
      async () => {
        const now = await active(atGateway);
        assert.equal(now.get('b'), 1, `b: ${JSON.stringify([...now])}`);
        assert.ok((now.get('a') ?? 0) === 0, `the carrier a holds nothing: ${JSON.stringify([...now])}`);
      },
    );
    const after = await active(atGateway);
    assert.equal(after.get('b'), 0, 'and it leaves b’s count when it ends');
  });

  it('gateway: a call no rule matches names no service (there was none), and a call to a is a’s', async () => {
    const none = await get('/nothing-here');
    assert.equal(none.status, 404, none.body);
    const ok = await get('/a/1');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await atGateway.clientSpan('/a/1')).attributes['server.address'], 'a');
    let unrouted: ReadableSpan | undefined;
    await waitUntil(
      () => (unrouted = atGateway.exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT && s.attributes['hyphae.error.code'] === 'HYPHAE_ERR_NO_ROUTE')) !== undefined,
      STALL_MS,
      'the unmatched call’s span',
    );
    assert.equal(unrouted!.attributes['server.address'], undefined, 'not the carrier a');
    assert.equal(unrouted!.attributes['hyphae.destination.service'], undefined);
    assert.equal(unrouted!.attributes['url.full'], undefined);
    const durations = await atGateway.metric('http.client.request.duration');
    assert.deepEqual(new Set(durations.map((p) => p.attributes['server.address'])), new Set(['b', 'a', undefined]));
    const unmatched = durations.find((p) => p.attributes['server.address'] === undefined)!;
    assert.equal(unmatched.attributes['error.type'], 'HYPHAE_ERR_NO_ROUTE');
  });

  it('gateway: the error a client gets for a call to b names b, not the carrier', async () => {
    const late = await get('/b/in-time/hold');
    release();
    assert.equal(late.status, 504, late.body);
    const { error } = JSON.parse(late.body) as { error: { code: string; message: string } };
    assert.equal(error.code, 'HYPHAE_ERR_DEADLINE_EXCEEDED');
    assert.equal(error.message, 'call to b exceeded its deadline');
  });

  it('Service parent: a call to a that a’s Route sends to b is b’s, and url.full keeps the URL asked for', async () => {
    const res = await web.request('http://a/split/flaky/2');
    assert.equal(res.statusCode, 200);
    assert.equal((JSON.parse(await res.body.text()) as { service: string }).service, 'b');
    const span = await atWeb.clientSpan('/split/flaky/2');
    assert.equal(span.attributes['url.full'], 'http://a/split/flaky/2', 'the URL web asked for');
    assert.equal(span.attributes['server.address'], 'b', 'the service the request was sent to');
    assert.equal(span.attributes['hyphae.destination.service'], 'b');
    assert.equal(span.attributes['hyphae.route'], 'split-to-b');
  });

  it('Service parent: that call is b’s on the retry event, the retry counter and the duration metric', async () => {
    assert.deepEqual(
      atWeb.retries.map((e) => [e.destination, e.decision]),
      [['b', 'retry']],
    );
    assert.deepEqual(
      (await atWeb.metric('hyphae.client.retries')).map((p) => p.attributes['server.address']),
      ['b'],
    );
    assert.deepEqual(
      (await atWeb.metric('http.client.request.duration')).map((p) => p.attributes['server.address']),
      ['b'],
    );
  });

  it('Service parent: a call in flight counts on b’s active-requests gauge, none on a’s', async () => {
    await whileHeld(
      () => web.request('http://a/split/hold').then((r) => r.body.text()),
      async () => {
        const now = await active(atWeb);
        assert.equal(now.get('b'), 1, `b: ${JSON.stringify([...now])}`);
        assert.ok((now.get('a') ?? 0) === 0, `a holds nothing: ${JSON.stringify([...now])}`);
      },
    );
  });
});
