/**
 * No OpenTelemetry SDK in this process: the mesh passes a request's trace
 * context on to the calls its handler makes, unless the handler set a
 * traceparent of its own on the call, which then goes out as it set it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';

const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const OWN = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('no SDK: the pass-through leaves a traceparent the application set', () => {
  const resolver = new StaticResolver();
  let mesh: Mesh;
  let port = 0;

  before(async () => {
    mesh = await createMesh({ resolver, service: 'mid', server: { drainDelayMs: 0 } });
    const echo = http.createServer((req, res) => res.end(req.headers.traceparent ?? '-'));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echo.unref();
    resolver.set('echo', [{ address: '127.0.0.1', port: (echo.address() as AddressInfo).port }]);
    const mid = mesh.wrapServer(
      http.createServer((req, res) => {
        const opts = req.url === '/own' ? { headers: { TraceParent: OWN } } : undefined;
        void mesh
          .request('http://echo/', opts)
          .then((r) => r.body.text())
          .then((t) => res.end(t));
      }),
      { register: false },
    );
    await new Promise<void>((resolve) => mid.listen(0, '127.0.0.1', resolve));
    port = (mid.address() as AddressInfo).port;
  });

  after(async () => {
    await mesh.close();
  });

  const ask = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { traceparent: INCOMING } })).text();

  it("passes the incoming traceparent on, but not over the application's own", async () => {
    assert.equal(await ask('/'), INCOMING);
    assert.equal(await ask('/own'), OWN);
  });
});
