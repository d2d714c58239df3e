/**
 * Without any OpenTelemetry SDK the API's propagator and context manager do
 * nothing; the mesh must still carry the caller's trace context to the
 * services a handler calls (real loopback servers, real undici transport).
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { propagation, trace } from '@opentelemetry/api';
import { request } from 'undici';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { withHeaders } from '../../src/client/filters/telemetry.js';
import { startTracedServer, TestClient, type TestService } from '../helpers/telemetry-stack.js';

describe('trace context pass-through with no SDK', () => {
  const resolver = new StaticResolver();
  const seen: IncomingHttpHeaders[] = [];
  let db: TestService;
  let api: TestService;
  let apiClient: TestClient;

  before(async () => {
    assert.equal(propagation.fields().length, 0, 'no propagator registered in this process');
    db = await startTracedServer(new MeshTelemetry({ service: 'db' }), (req, res) => {
      seen.push(req.headers);
      res.end('ok');
    });
    const apiT = new MeshTelemetry({ service: 'api' });
    apiClient = new TestClient(apiT, resolver);
    api = await startTracedServer(apiT, (req, res) => {
      // A little async work first, so the context must survive awaits without a context manager.
      void new Promise((r) => setTimeout(r, Number(req.headers['x-delay'] ?? 0)))
        .then(() => apiClient.request('http://db/rows'))
        .then(async (r) => res.end(await r.body.text()));
    });
    resolver.set('db', [{ address: '127.0.0.1', port: db.port }]);
  });

  after(async () => {
    await apiClient.close();
    await Promise.all([db.close(), api.close()]);
  });

  it('traceparent, tracestate and baggage reach the next hop unchanged', async () => {
    seen.length = 0;
    const headers = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
      baggage: 'tenant=acme,region=eu%2Dwest;prop=1',
    };
    const res = await request(`http://127.0.0.1:${api.port}/`, { headers });
    assert.equal(await res.body.text(), 'ok');
    assert.equal(seen.length, 1);
    console.log(`sent    ${headers.traceparent}\nreceived ${String(seen[0]!.traceparent)}`);
    assert.equal(seen[0]!.traceparent, headers.traceparent);
    assert.equal(seen[0]!.tracestate, headers.tracestate);
    assert.equal(seen[0]!.baggage, headers.baggage);
    assert.equal(trace.getActiveSpan(), undefined, 'nothing leaks into the test');
  });

  it('concurrent requests each pass on their own context', async () => {
    seen.length = 0;
    const ids = Array.from({ length: 20 }, (_, i) => `00-${(i + 1).toString(16).padStart(32, '0')}-${'a'.repeat(15)}${(i % 10).toString()}-01`);
    await Promise.all(
      ids.map(async (tp, i) => {
        const r = await request(`http://127.0.0.1:${api.port}/`, { headers: { traceparent: tp, 'x-delay': String((20 - i) * 2) } });
        await r.body.text();
      }),
    );
    assert.deepEqual(seen.map((h) => h.traceparent).sort(), [...ids].sort());
  });

  it('a malformed or absent traceparent is not forwarded; a call outside any request carries none', async () => {
    seen.length = 0;
    for (const bad of ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, 'junk']) {
      const r = await request(`http://127.0.0.1:${api.port}/`, { headers: { traceparent: bad } });
      await r.body.text();
    }
    const r = await apiClient.request('http://db/direct');
    await r.body.text();
    assert.equal(seen.length, 5);
    for (const h of seen) assert.equal(h.traceparent, undefined);
  });

  it('withHeaders sets propagation headers on every header shape without touching the caller\'s', () => {
    const add = { traceparent: 'tp', baggage: 'b' };
    const obj = { Traceparent: 'old', accept: 'x' };
    const flat = ['TRACEPARENT', 'old', 'accept', 'x'];
    const pairs = new Map([['accept', 'x'], ['traceparent', 'old']]);
    const base = { origin: 'http://api', path: '/', method: 'GET' as const };
    assert.deepEqual(withHeaders({ ...base }, add).headers, add);
    assert.deepEqual(withHeaders({ ...base, headers: obj }, add).headers, { accept: 'x', traceparent: 'tp', baggage: 'b' });
    assert.deepEqual(withHeaders({ ...base, headers: flat }, add).headers, ['accept', 'x', 'traceparent', 'tp', 'baggage', 'b']);
    assert.deepEqual(withHeaders({ ...base, headers: pairs }, add).headers, [['accept', 'x'], ['traceparent', 'tp'], ['baggage', 'b']]);
    assert.deepEqual(obj, { Traceparent: 'old', accept: 'x' });
    assert.deepEqual(flat, ['TRACEPARENT', 'old', 'accept', 'x']);
  });
});
