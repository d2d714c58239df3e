/**
 * forwardToMesh on a plain listener (as the proxy's outbound listener and a
 * gateway use it), over a mesh with a static resolver and real sockets:
 * bodies stream both ways, hop-by-hop fields stop at the edge while trace
 * context goes on, the caller's deadline holds, a caller that leaves stops
 * the call, and failures come back coded.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { silentLogger } from '../../src/core/logger.js';
import { callTarget, forwardToMesh } from '../../src/edge/forward-to-mesh.js';
import { splitUrl } from '../../src/core/split-url.js';
import { rawRequest } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/hostile-peers.js';

const STALL_MS = 15_000;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('callTarget', () => {
  it('names every request target as mesh.request names http://<service><target>', () => {
    for (const t of ['/', '/a/b?x=1&y', '/a#frag', '/?q', '/%2e%2e/x', '//double', '*', '?only', 'http://other/x', '#f', '']) {
      assert.deepEqual(callTarget('api', t), splitUrl(`http://api${t}`), JSON.stringify(t));
    }
  });
});

describe('forwardToMesh', () => {
  const resolver = new StaticResolver();
  let mesh: Mesh;
  let backend: http.Server;
  let edge: http.Server;
  let edgePort: number;
  /** What the backend saw, by path. */
  const seen = new Map<string, http.IncomingHttpHeaders>();
  const closedEarly = new Set<string>();

  before(async () => {
    backend = http.createServer((req, res) => {
      const path = req.url!.split('?')[0]!;
      seen.set(path, req.headers);
      res.once('close', () => {
        if (!res.writableFinished) closedEarly.add(path);
      });
      if (path === '/stream') {
        // Echo each chunk as it comes: the answer starts before the request has ended.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.flushHeaders();
        req.on('data', (c: Buffer) => res.write(c));
        req.on('end', () => res.end());
        return;
      }
      if (path === '/cut') {
        // A body cut mid-way: the status line is out, the rest never comes.
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial', () => res.socket?.destroy());
        return;
      }
      if (path === '/slow' || path === '/hang') return; // never answers: the caller's deadline or abort ends it
      res.writeHead(200, { 'content-type': 'application/json', connection: 'x-from-backend', 'x-from-backend': 'hop', 'x-visible': 'yes' });
      res.end(JSON.stringify({ path: req.url }));
    });
    resolver.set('api', [{ address: '127.0.0.1', port: await listen(backend) }]);
    resolver.set('empty', []);
    mesh = await createMesh({ resolver, service: 'edge-test', logger: silentLogger, discoveryTimeoutMs: 2_000 });
    edge = http.createServer((req, res) => void forwardToMesh(mesh, req, res, { service: (req.headers['x-to'] as string | undefined) ?? 'api', path: req.url! }));
    edgePort = await listen(edge);
  });

  after(async () => {
    edge?.closeAllConnections();
    edge?.close();
    await mesh?.close();
    backend?.closeAllConnections();
    backend?.close();
  });

  it('streams the request and the response body at once, both ways', async () => {
    const body = new PassThrough();
    body.write('first;');
    const res = await request(`http://127.0.0.1:${edgePort}/stream`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, headersTimeout: STALL_MS });
    assert.equal(res.statusCode, 200);
    const chunks = res.body[Symbol.asyncIterator]();
    // The first chunk comes back while the request body is still open: nothing waited for the whole request.
    const first = await chunks.next();
    assert.equal(Buffer.from(first.value as Buffer).toString(), 'first;');
    body.end('second');
    let rest = '';
    for (let c = await chunks.next(); !c.done; c = await chunks.next()) rest += Buffer.from(c.value as Buffer).toString();
    assert.equal(rest, 'second');
  });

  it('drops hop-by-hop fields both ways, passes trace context and end-to-end fields on, and sends the Host of any mesh call', async () => {
    const reply = await rawRequest(edgePort, {
      target: '/echo?q=1',
      headers: [
        ['Connection', 'X-Secret'],
        ['X-Secret', 'for this hop'],
        ['Keep-Alive', 'timeout=1'],
        ['TE', 'trailers'],
        ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
        ['traceparent', TRACEPARENT],
        ['tracestate', 'vendor=1'],
        ['X-Keep', 'kept'],
      ],
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), { path: '/echo?q=1' });
    const h = seen.get('/echo')!;
    // The caller's Host named the edge; the mesh's call names the endpoint it picked, as every mesh call does.
    assert.equal(h.host, `127.0.0.1:${(backend.address() as AddressInfo).port}`);
    assert.equal(h['x-keep'], 'kept');
    assert.equal(h.traceparent, TRACEPARENT);
    assert.equal(h.tracestate, 'vendor=1');
    for (const name of ['x-secret', 'keep-alive', 'te', 'proxy-authorization']) assert.equal(h[name], undefined, `${name} stops at the edge`);
    assert.equal(reply.headers['x-visible'], 'yes');
    assert.equal(reply.headers['x-from-backend'], undefined, 'a field the response Connection lists stops too');
  });

  it("honours the caller's x-hyphae-deadline-ms: 504 at the deadline, the next hop told what was left, its request stopped", async () => {
    const started = performance.now();
    const reply = await rawRequest(edgePort, { target: '/slow', headers: [['x-hyphae-deadline-ms', '300']] }, STALL_MS);
    const elapsed = performance.now() - started;
    assert.equal(reply.status, 504);
    assert.equal((JSON.parse(reply.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_DEADLINE_EXCEEDED');
    assert.ok(elapsed < 3_000, `answered at about the deadline (${Math.round(elapsed)} ms)`);
    const budget = Number(seen.get('/slow')!['x-hyphae-deadline-ms']);
    assert.ok(budget > 0 && budget <= 300, `the next hop hears what is left, got ${budget}`);
    await waitUntil(() => closedEarly.has('/slow'), STALL_MS, "the backend's request is stopped at the deadline");
  });

  it('a caller that goes away stops the call it started', async () => {
    const controller = new AbortController();
    const pending = request(`http://127.0.0.1:${edgePort}/hang`, { signal: controller.signal }).catch((err: unknown) => err);
    await waitUntil(() => seen.has('/hang'), STALL_MS, 'the request reaches the backend');
    controller.abort();
    await pending;
    await waitUntil(() => closedEarly.has('/hang'), STALL_MS, "the backend's request is stopped when the caller leaves");
  });

  it('a body cut mid-way reaches the client as a cut connection, never as a complete response', async () => {
    const res = await request(`http://127.0.0.1:${edgePort}/cut`, { headersTimeout: STALL_MS, bodyTimeout: STALL_MS });
    assert.equal(res.statusCode, 200);
    const started = performance.now();
    await assert.rejects(res.body.text());
    // Cut by the edge at once, not left to the client's body timeout (15 s here).
    assert.ok(performance.now() - started < 5_000, 'the connection is cut when the upstream body is');
  });

  it('a service the mesh does not know: 502 HYPHAE_ERR_SERVICE_NOT_FOUND; one without endpoints: 503 HYPHAE_ERR_NO_ENDPOINTS', async () => {
    const missing = await rawRequest(edgePort, { target: '/', headers: [['x-to', 'nosuch']] }, STALL_MS);
    assert.equal(missing.status, 502);
    assert.equal((JSON.parse(missing.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_SERVICE_NOT_FOUND');
    const empty = await rawRequest(edgePort, { target: '/', headers: [['x-to', 'empty']] }, STALL_MS);
    assert.equal(empty.status, 503);
    assert.equal((JSON.parse(empty.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_NO_ENDPOINTS');
  });

  it('a request that arrives with no budget left is answered 504 without a call', async () => {
    seen.delete('/echo');
    const reply = await rawRequest(edgePort, { target: '/echo', headers: [['x-hyphae-deadline-ms', '0']] });
    assert.equal(reply.status, 504);
    assert.equal(seen.has('/echo'), false);
  });
});
