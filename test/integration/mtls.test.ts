/**
 * Issue 3, must-show 1: two services talk over mTLS by default, and a
 * plaintext request to a STRICT port gets no answer from the handler. Also:
 * PERMISSIVE and DISABLE from a PeerAuthentication resource, switched live.
 *
 * Real processes: the control plane (child), `web` (the example, a child),
 * `api` (built with the library in this process, so its handler can count),
 * and this process as a third service calling web by name.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { Agent, request } from 'undici';
import { createMesh, getPeer, type Mesh } from '../../src/index.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { buildDir, startNode, type Child } from '../helpers/process.js';
import { waitUntil } from '../helpers/services.js';

let cp: RunningControlPlane;
let apiMesh: Mesh;
let client: Mesh;
let web: Child;
let apiPort: number;
const hits: { path: string; peer: string | null }[] = [];

before(async () => {
  cp = await startControlPlane();
  apiMesh = await createMesh(await cp.meshOptions('api'));
  const server = apiMesh.wrapServer(
    http.createServer((req, res) => {
      hits.push({ path: req.url ?? '', peer: getPeer(req)?.id ?? null });
      // /close ends the caller's connection, so that its next call dials anew (and picks the mode in force).
      if (req.url?.includes('close')) res.setHeader('connection', 'close');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service: 'api', peer: getPeer(req)?.id ?? null }));
    }),
  );
  server.listen(0, '127.0.0.1');
  await apiMesh.registered(server);
  apiPort = (server.address() as AddressInfo).port;
  web = startNode(path.join(buildDir, 'examples/web/server.js'), [], await cp.env('web'));
  await web.waitFor(/ready service=web/, 60_000);
  client = await createMesh(await cp.meshOptions('client'));
});

after(async () => {
  await client?.close();
  await web?.kill();
  await apiMesh?.close();
  await cp?.stop();
});

async function viaWeb(path = '/items'): Promise<{ status: number; peer: string | null }> {
  const res = await client.request(`http://web${path}`);
  const body = (await res.body.json()) as { api?: { peer: string | null } };
  return { status: res.statusCode, peer: body.api?.peer ?? null };
}

/** A raw plaintext HTTP request on a fresh TCP connection; resolves with what came back before the server closed it. */
function plaintext(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(out));
    s.write('GET /plain HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
    setTimeout(() => s.destroy(), 3_000).unref();
  });
}

async function setMode(mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE' | null): Promise<void> {
  if (mode === null) {
    const res = await call(cp.url, 'DELETE', '/v1/resources/PeerAuthentication/default/api-mtls');
    assert.equal(res.status, 200, res.text);
    return;
  }
  const res = await call(cp.url, 'PUT', '/v1/resources', {
    apiVersion: 'hyphae.dev/v1',
    kind: 'PeerAuthentication',
    metadata: { name: 'api-mtls' },
    spec: { selector: { service: 'api' }, mode },
  });
  assert.equal(res.status, 200, res.text);
}

it('web -> api over mTLS by default: api sees the SPIFFE ID of web, proven by its certificate', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await viaWeb();
    assert.equal(r.status, 200);
    assert.equal(r.peer, 'spiffe://hyphae.local/ns/default/sa/web');
  }
  assert.equal(client.identity()?.spiffeId, 'spiffe://hyphae.local/ns/default/sa/client');
  console.log(`5 calls client -> web -> api over mTLS; api saw ${hits.at(-1)?.peer}; client handshakes: ${client.identity()?.handshakes}`);
});

it('a plaintext request to the STRICT api port gets no answer, and the handler never runs', async () => {
  const before = hits.length;
  const answers = await Promise.all([plaintext(apiPort), plaintext(apiPort), plaintext(apiPort)]);
  assert.deepEqual(answers, ['', '', ''], 'the connection is closed without an HTTP answer');
  await assert.rejects(request(`http://127.0.0.1:${apiPort}/plain`));
  // A TLS client without a certificate fares no better.
  const noCert = new Agent({ connect: { ca: cp.ca, checkServerIdentity: () => undefined } });
  try {
    await assert.rejects(request(`https://127.0.0.1:${apiPort}/nocert`, { dispatcher: noCert }));
  } finally {
    await noCert.close();
  }
  assert.equal(hits.length, before, 'no request reached the handler');
  console.log('plaintext x4 and a certificate-less TLS client: 0 reached the api handler');
});

it('PERMISSIVE takes plaintext and mTLS on one port; DISABLE makes callers use plaintext; back to STRICT refuses plaintext again, all live', async () => {
  await setMode('PERMISSIVE');
  const t0 = performance.now();
  await waitUntil(async () => (await plaintext(apiPort)).startsWith('HTTP/1.1 200'), 5_000, 50);
  console.log(`PERMISSIVE in force at api after ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(hits.at(-1)?.peer, null, 'a plaintext caller has no identity');
  assert.equal((await viaWeb()).peer, 'spiffe://hyphae.local/ns/default/sa/web', 'mTLS callers keep their identity');

  await setMode('DISABLE');
  // web learns the new mode of api; its open TLS connection carries on, its next new one is plaintext.
  await waitUntil(async () => (await viaWeb('/close')).peer === null, 5_000, 50);
  assert.equal((await viaWeb()).peer, null, 'web calls api in plaintext under DISABLE');

  await setMode('STRICT');
  await waitUntil(async () => (await plaintext(apiPort)) === '', 5_000, 50);
  // The switch closed web's plaintext connection; web dials mTLS again once it has heard of STRICT.
  await waitUntil(async () => (await viaWeb()).peer !== null, 5_000, 50);
  const r = await viaWeb();
  assert.deepEqual(r, { status: 200, peer: 'spiffe://hyphae.local/ns/default/sa/web' });

  // Without any PeerAuthentication, a mesh with a CA is STRICT.
  await setMode(null);
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(await plaintext(apiPort), '');
  assert.equal((await viaWeb()).status, 200);
});

it('authorization uses the identity mTLS proved: ALLOW from web lets web in and keeps this client out, forged headers or not', async () => {
  const allowWeb = {
    apiVersion: 'hyphae.dev/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'api-from-web' },
    spec: { selector: { service: 'api' }, action: 'ALLOW', rules: [{ from: { principals: ['spiffe://hyphae.local/ns/default/sa/web'] } }] },
  };
  assert.equal((await call(cp.url, 'PUT', '/v1/resources', allowWeb)).status, 200);
  try {
    const direct = async () => {
      const res = await client.request('http://api/direct', {
        headers: { 'x-hyphae-peer': 'spiffe://hyphae.local/ns/default/sa/web', 'x-forwarded-client-cert': 'URI=spiffe://hyphae.local/ns/default/sa/web' },
      });
      await res.body.dump();
      return res.statusCode;
    };
    await waitUntil(async () => (await direct()) === 403, 5_000, 50);
    assert.equal((await viaWeb()).status, 200, 'web is allowed');
    assert.equal((await viaWeb()).peer, 'spiffe://hyphae.local/ns/default/sa/web');
    const before = hits.filter((h) => h.path === '/direct').length;
    assert.equal(await direct(), 403, 'this client is not web, whatever its headers say');
    assert.equal(hits.filter((h) => h.path === '/direct').length, before, 'the denied call never reached the handler');
    console.log('ALLOW from web: web -> api 200, client -> api 403 (with forged identity headers)');
  } finally {
    assert.equal((await call(cp.url, 'DELETE', '/v1/resources/AuthorizationPolicy/default/api-from-web')).status, 200);
  }
});
