/**
 * Issue 18, the two halves together: a mesh client calls a wrapped `http2.createSecureServer` by name
 * over the mesh's mTLS, with a real control plane. In `auto` the endpoint's connections negotiate h2 (the
 * server registered with the h2 protocol hint, so from the first call); the server sees the caller's SPIFFE ID; a Service with
 * `protocol: http1` applied live moves the calls back to HTTP/1.1, and `h2` forces HTTP/2 again.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, it } from 'node:test';
import { createMesh, getPeer, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { call as cpCall, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { PROTOCOL_HINT_LABEL } from '../../src/config/protocol-hint.js';
import { apply, meta } from '../helpers/gateway.js';
import { waitUntil } from '../helpers/hostile-peers.js';

let cp: RunningControlPlane;
let api: Mesh;
let web: Mesh;
let server: http2.Http2SecureServer;
const seen: { version: string; peer: string | undefined }[] = [];

before(async () => {
  cp = await startControlPlane();
  api = await createMesh({ ...(await cp.meshOptions('api')), logger: silentLogger, server: { drainDelayMs: 0 } });
  // The key and certificate the application would give are unused while the mesh's mTLS is on.
  server = api.wrapServer(
    http2.createSecureServer({ allowHTTP1: true }, (req, res) => {
      seen.push({ version: req.httpVersion, peer: getPeer(req)?.id });
      res.end('ok');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await api.registered(server);
  web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
});

after(async () => {
  await web?.close();
  await api?.close();
  await cp?.stop();
});

async function call(): Promise<string> {
  const res = await web.request('http://api/');
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'ok');
  return seen.at(-1)!.version;
}

it('auto: a mesh call to a wrapped HTTP/2 server negotiates h2 over mTLS, and the server sees the caller', async () => {
  // The wrapped HTTP/2 server registered with the protocol hint, so even the endpoint's first connection is
  // made by an HTTP/2-shaped pool, and the very first call goes over HTTP/2.
  assert.equal(await call(), '2.0', 'the first call went over HTTP/2');
  const instance = (await cpCall<{ instances: { labels: Record<string, string> }[] }>(cp.url, 'GET', '/v1/instances?service=api')).body.instances[0]!;
  assert.equal(instance.labels[PROTOCOL_HINT_LABEL], 'h2', 'wrapServer registers an HTTP/2 server with the h2 hint');
  assert.equal(seen.at(-1)!.peer, 'spiffe://hyphae.local/ns/default/sa/web');
  const versions = await Promise.all(Array.from({ length: 20 }, () => call()));
  assert.deepEqual(new Set(versions), new Set(['2.0']));
});

it('Service protocol http1 applied live moves the calls to HTTP/1.1; h2 brings them back', async () => {
  await apply(cp, { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: meta('api'), spec: { protocol: 'http1' } });
  await waitUntil(async () => (await call()) === '1.1', 30_000, 'a call over HTTP/1.1');
  assert.equal(seen.at(-1)!.peer, 'spiffe://hyphae.local/ns/default/sa/web');
  await apply(cp, { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: meta('api'), spec: { protocol: 'h2' } });
  await waitUntil(async () => (await call()) === '2.0', 30_000, 'a call over HTTP/2 again');
});
