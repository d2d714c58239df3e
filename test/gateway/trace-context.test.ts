/**
 * Trace context through the gateway with no SDK (issue 20's trace for every request, at the edge): the
 * gateway passes each request's trace headers on itself, not through the AsyncLocalStorage a wrapped
 * server's handler runs in (telemetry-layer.ts, passTraceItself). Every W3C case of the wrapped server's
 * table (test/helpers/trace-cases.ts) sent through a real gateway to a mesh service over mTLS: the service
 * receives exactly one traceparent, the client's when valid and a new unsampled one when not, a tracestate
 * only when valid and then sanitized; and the gateway's access log names that same trace on both its
 * lines (the request it served, the call it made).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningGateway } from '../../src/gateway/start-gateway.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { apply, boundPort, meta, startBackend, startTestGateway, type Backend, type Echo } from '../helpers/gateway.js';
import { CASES, checkHop, get, sentTraceparent, traceHeaders } from '../helpers/trace-cases.js';

const API = 'hyphae.dev/v1';
const STALL_MS = 10_000;

interface LogLine {
  side: string;
  path: string;
  trace_id?: string;
}

describe('hyphae gateway: W3C trace context with no SDK', () => {
  let cp: RunningControlPlane;
  let web: Backend;
  let gw: RunningGateway;
  let port: number;
  const lines: LogLine[] = [];

  before(async () => {
    cp = await startControlPlane();
    web = await startBackend(cp, 'web');
    await apply(
      cp,
      { apiVersion: API, kind: 'Gateway', metadata: meta('edge'), spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] } },
      { apiVersion: API, kind: 'Route', metadata: meta('web'), spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [{ backendRefs: [{ name: 'web' }] }] } },
    );
    gw = await startTestGateway(cp, 'edge', [8080], { accessLog: (line) => void lines.push(JSON.parse(line) as LogLine) });
    await gw.ready;
    port = boundPort(gw, 8080);
  });

  after(async () => {
    await gw?.close();
    await web?.close();
    await cp?.stop();
  });

  for (const c of CASES) {
    it(`${c.name}: one traceparent, ${c.same ? 'the same' : 'a new'} trace, ${c.tracestate === undefined ? 'no tracestate' : 'the valid tracestate'}; both log lines name it`, async () => {
      const urlPath = `/case/${CASES.indexOf(c)}`;
      const echo = JSON.parse(await get(port, urlPath, c.headers)) as Echo;
      assert.equal(echo.url, urlPath);
      const received = traceHeaders(echo.rawHeaders);
      const tp = received.traceparents[0] ?? '';
      // A request's log lines are written when its response is done: waited for, not assumed.
      await waitUntil(() => lines.filter((l) => l.path === urlPath).length === 2, STALL_MS, `both access log lines of ${urlPath}`);
      const server = lines.find((l) => l.path === urlPath && l.side === 'server');
      const client = lines.find((l) => l.path === urlPath && l.side === 'client');
      checkHop(received, c, `${c.name}, through the gateway`, server?.trace_id ?? '(no server line trace id)');
      assert.equal(client?.trace_id, server?.trace_id, `${c.name}: the gateway's call names the request's trace`);
      // Nothing records here: a valid traceparent goes on as it came; a new trace is started unsampled.
      if (c.same) assert.equal(tp, sentTraceparent(c));
      else assert.ok(tp.endsWith('-00'), `a trace the gateway starts is not sampled (${tp})`);
    });
  }

  it('baggage goes on as it came, beside the checked traceparent', async () => {
    const echo = JSON.parse(await get(port, '/baggage', { traceparent: 'garbage', baggage: ['k1=v1', 'k2=v2'] })) as Echo;
    const baggage = echo.rawHeaders.filter((_, i) => i % 2 === 1 && echo.rawHeaders[i - 1]!.toLowerCase() === 'baggage');
    assert.deepEqual(baggage, ['k1=v1, k2=v2']);
    const tp = traceHeaders(echo.rawHeaders).traceparents;
    assert.equal(tp.length, 1);
    assert.notEqual(tp[0], 'garbage');
  });
});
