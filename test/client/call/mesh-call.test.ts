/**
 * MeshCall.addHeaders and the options handed over by mesh.request
 * (client/options-copy.ts): the mesh's own per-call options are set in place,
 * an application's are copied and never edited, and every call of a traced
 * mesh still sends a traceparent of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BasicTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { Dispatcher } from 'undici';
import { MeshCall } from '../../../src/client/call/mesh-call.js';
import { handOver, takeOver } from '../../../src/client/call/options-copy.js';
import { createMesh, type Mesh } from '../../../src/index.js';
import { StaticResolver } from '../../../src/extend.js';
import { listenWrapped } from '../../helpers/http-servers.js';

const handler = { onError: () => {} };

describe('MeshCall.addHeaders', () => {
  const dest = { name: 'api', namespace: 'default' };

  it("copies an application's options and leaves them as they were", () => {
    const opts: Dispatcher.DispatchOptions = { origin: 'http://api', path: '/', method: 'GET', headers: { accept: 'x' } };
    const call = new MeshCall(dest, opts, handler);
    call.addHeaders({ traceparent: 'tp' });
    assert.notEqual(call.opts, opts);
    assert.deepEqual(call.opts.headers, { accept: 'x', traceparent: 'tp' });
    assert.deepEqual(opts.headers, { accept: 'x' });
    assert.equal(call.header('traceparent'), 'tp');
  });

  it('sets options the mesh made for the call in place, once; a second change copies', () => {
    const opts: Dispatcher.DispatchOptions = { origin: 'http://api', path: '/', method: 'GET' };
    const call = new MeshCall(dest, opts, handler, true);
    assert.equal(call.header('traceparent'), undefined);
    call.addHeaders({ traceparent: 'tp' });
    assert.equal(call.opts, opts);
    assert.deepEqual(opts.headers, { traceparent: 'tp' });
    assert.equal(call.header('traceparent'), 'tp', 'what was read before is read again');
    call.addHeaders({ traceparent: 'tp2' });
    assert.notEqual(call.opts, opts);
    assert.deepEqual(opts.headers, { traceparent: 'tp' });
  });

  it('takeOver recognises only the object handed over, and only once', () => {
    const mine = handOver({ path: '/' });
    assert.equal(takeOver({ path: '/' }), false, 'a look-alike');
    assert.equal(takeOver(mine), false, 'the slot was cleared by the look-alike');
    handOver(mine);
    assert.equal(takeOver(mine), true);
    assert.equal(takeOver(mine), false);
  });
});

describe('trace headers through a traced mesh (every root dropped: ratio 0)', () => {
  const resolver = new StaticResolver();
  const tracerProvider = new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) }) });
  const seen: string[] = [];
  const logs: { side: string; trace_id?: string }[] = [];
  let api: Mesh;
  let client: Mesh;

  before(async () => {
    api = await createMesh({ resolver, service: 'api', server: { drainDelayMs: 0 } });
    const port = await listenWrapped(api, (req, res) => {
      seen.push(String(req.headers.traceparent));
      res.end('ok');
    });
    resolver.set('api', [{ address: '127.0.0.1', port }]);
    const accessLog = (line: string) => void logs.push(JSON.parse(line) as { side: string; trace_id?: string });
    client = await createMesh({ resolver, service: 'client', telemetry: { tracerProvider, accessLog } });
  });

  after(async () => {
    await client.close();
    await api.close();
  });

  it("mesh.request and an application's own options: a traceparent per call, the caller's objects untouched", async () => {
    seen.length = 0;
    logs.length = 0;
    const shared = { accept: 'text/plain' };
    for (let i = 0; i < 3; i++) await (await client.request('http://api/x', { headers: shared })).body.dump();
    const own: Dispatcher.RequestOptions = { origin: 'http://api', path: '/x', method: 'GET' };
    for (let i = 0; i < 3; i++) await (await client.dispatcher.request(own)).body.dump();
    assert.deepEqual(shared, { accept: 'text/plain' });
    assert.deepEqual(own, { origin: 'http://api', path: '/x', method: 'GET' }, 'no headers added to the application object');
    assert.equal(seen.length, 6);
    for (const tp of seen) assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.equal(new Set(seen).size, 6, 'a root of its own per call');
    // The access log's trace ids are those sent (the dropped root's span is made only for the log).
    const sentIds = seen.map((tp) => tp.slice(3, 35)).sort();
    assert.deepEqual(
      logs
        .filter((l) => l.side === 'client')
        .map((l) => l.trace_id)
        .sort(),
      sentIds,
    );
  });
});
