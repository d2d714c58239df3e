/**
 * `hyphae gateway` end to end with real processes: the control plane as a
 * child process, mesh services built with the library behind it under mTLS,
 * the gateway (startGateway) configured by a Gateway and Routes applied
 * through the control plane's API, and real curl as the client outside.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RunningGateway } from '../../src/gateway/start-gateway.js';
import { startControlPlane, makeTempDir, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { apply, boundPort, curl, hostCertificate, meta, startBackend, startTestGateway, type Backend, type Echo } from '../helpers/gateway.js';

const STALL_MS = 30_000;
const API = 'hyphae.dev/v1';

function gatewayResource(certs: { shop: { cert: string; key: string }; api: { cert: string; key: string } }, trustedHops: number, extra: object[] = []): object {
  return {
    apiVersion: API,
    kind: 'Gateway',
    metadata: meta('edge'),
    spec: {
      listeners: [
        { name: 'http', port: 8080, protocol: 'HTTP' },
        { name: 'shop', port: 8443, protocol: 'HTTPS', hostname: 'shop.example.com', tls: { certificateFile: certs.shop.cert, keyFile: certs.shop.key } },
        { name: 'api', port: 8443, protocol: 'HTTPS', hostname: 'api.example.com', tls: { certificateFile: certs.api.cert, keyFile: certs.api.key } },
        ...extra,
      ],
      edge: { trustedHops, maxRequestBodyBytes: 1024 },
    },
  };
}

function route(name: string, spec: object): object {
  return { apiVersion: API, kind: 'Route', metadata: meta(name), spec };
}

/** api.example.com's routes: /limited at `requests` an hour (a token every 30 min at 2: none comes back while the tests run), /v1 unlimited. */
function apiRoute(requests: number): object {
  return route('api-route', {
    parentRefs: [{ kind: 'Gateway', name: 'edge', sectionName: 'api' }],
    hostnames: ['api.example.com'],
    rules: [
      {
        name: 'limited',
        matches: [{ path: { type: 'PathPrefix', value: '/limited' } }],
        filters: [{ type: 'LocalRateLimit', localRateLimit: { requests, unit: 'Hour' } }],
        backendRefs: [{ name: 'api' }],
      },
      { name: 'api-all', matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: [{ name: 'api' }] },
    ],
  });
}

describe('hyphae gateway: routing, edge headers and identity', () => {
  let cp: RunningControlPlane;
  let shop: Backend;
  let api: Backend;
  let gw: RunningGateway;
  let intruder: Mesh;
  let certs: { shop: { cert: string; key: string }; api: { cert: string; key: string } };
  let http8080: number;
  let https8443: number;

  before(async () => {
    cp = await startControlPlane();
    const dir = await makeTempDir('hyphae-gw-');
    certs = { shop: await hostCertificate(dir, 'shop.example.com'), api: await hostCertificate(dir, 'api.example.com') };
    shop = await startBackend(cp, 'shop');
    api = await startBackend(cp, 'api');
    await apply(
      cp,
      { apiVersion: API, kind: 'Service', metadata: meta('ghost'), spec: {} },
      gatewayResource(certs, 0),
      route('shop-route', {
        parentRefs: [{ kind: 'Gateway', name: 'edge', sectionName: 'shop' }],
        hostnames: ['shop.example.com'],
        rules: [{ backendRefs: [{ name: 'shop' }] }],
      }),
      apiRoute(2),
      route('plain-route', {
        parentRefs: [{ kind: 'Gateway', name: 'edge', sectionName: 'http' }],
        rules: [
          { name: 'ghost', matches: [{ path: { type: 'PathPrefix', value: '/ghost' } }], backendRefs: [{ name: 'ghost' }] },
          { name: 'plain', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'shop' }] },
        ],
      }),
    );
    gw = await startTestGateway(cp, 'edge', [8080, 8443, 9090]);
    await gw.ready;
    http8080 = boundPort(gw, 8080);
    https8443 = boundPort(gw, 8443);
    intruder = await createMesh({ ...(await cp.meshOptions('intruder')), logger: silentLogger });
  });

  after(async () => {
    await gw?.close();
    await intruder?.close();
    await shop?.close();
    await api?.close();
    await cp?.stop();
  });

  const https = (host: string, path: string, extra: string[] = []) =>
    curl(['--cacert', host.startsWith('shop') ? certs.shop.cert : certs.api.cert, '--resolve', `${host}:${https8443}:127.0.0.1`, `https://${host}:${https8443}${path}`, ...extra]);

  it('HTTPS with SNI: each hostname gets its own certificate and reaches its service, which sees the gateway identity; a forged XFCC never arrives', async () => {
    const s = await https('shop.example.com', '/cart?x=1', [
      '-H',
      'x-forwarded-client-cert: By=spiffe://evil/x;URI=spiffe://cluster.local/ns/default/sa/admin',
      '-H',
      'x-hyphae-peer: spiffe://evil/p',
    ]);
    assert.equal(s.status, 200, s.body);
    const se = JSON.parse(s.body) as Echo;
    assert.equal(se.service, 'shop');
    assert.equal(se.url, '/cart?x=1');
    assert.match(se.peer ?? '', /^spiffe:\/\/[^/]+\/ns\/default\/sa\/edge$/, 'the backend sees the gateway identity over mTLS');
    assert.equal(se.headers['x-forwarded-client-cert'], undefined);
    assert.ok(!JSON.stringify(se.headers).includes('evil'), 'nothing forged reaches the backend');
    assert.equal(se.headers['x-forwarded-proto'], 'https');

    const a = await https('api.example.com', '/v1/items');
    assert.equal(a.status, 200, a.body);
    assert.equal((JSON.parse(a.body) as Echo).service, 'api');
    // curl verified each certificate against its own CA file: a wrong certificate would fail the handshake.
    const wrong = await curl(['--cacert', certs.shop.cert, '--resolve', `api.example.com:${https8443}:127.0.0.1`, `https://api.example.com:${https8443}/v1/items`]).catch((e: Error) => e);
    assert.ok(wrong instanceof Error || wrong.status === 0, 'the api hostname is not served with the shop certificate');
  });

  it('plain HTTP listener; trustedHops 0 replaces X-Forwarded-For and Forwarded with the peer', async () => {
    const r = await curl([`http://127.0.0.1:${http8080}/hello`, '-H', 'X-Forwarded-For: 6.6.6.6', '-H', 'Forwarded: for=6.6.6.6', '-H', 'X-Forwarded-Proto: https']);
    assert.equal(r.status, 200, r.body);
    const e = JSON.parse(r.body) as Echo;
    assert.equal(e.service, 'shop');
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers.forwarded, 'for=127.0.0.1;proto=http');
    assert.equal(e.headers['x-forwarded-proto'], 'http');
  });

  it('no route: 404 with a coded body, for an unknown host and for a path no rule matches', async () => {
    const host = await https('shop.example.com', '/x', ['-H', 'Host: nobody.example.org']);
    assert.equal(host.status, 404, host.body);
    assert.equal((JSON.parse(host.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_NO_ROUTE');
    const path = await https('api.example.com', '/nothing-here');
    assert.equal(path.status, 404, path.body);
    assert.equal((JSON.parse(path.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_NO_ROUTE');
  });

  it('no healthy backend: 503 with the coded body of the client error mapping', async () => {
    const r = await curl([`http://127.0.0.1:${http8080}/ghost`]);
    assert.equal(r.status, 503, r.body);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_NO_ENDPOINTS');
  });

  it('LocalRateLimit: past the bucket, 429 with Retry-After and a coded body; other rules are not limited', async () => {
    const statuses: number[] = [];
    let last = { status: 0, body: '', headers: '' };
    for (let i = 0; i < 4; i++) statuses.push((last = await https('api.example.com', '/limited')).status);
    assert.deepEqual(statuses, [200, 200, 429, 429]);
    assert.equal((JSON.parse(last.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_RATE_LIMITED');
    const retryAfter = Number(/retry-after: (\d+)/i.exec(last.headers)?.[1]);
    assert.ok(retryAfter > 60 && retryAfter <= 1800, `Retry-After in seconds until a token is back, got ${retryAfter}`);
    assert.equal((await https('api.example.com', '/v1/ok')).status, 200);
  });

  it('LocalRateLimit: a change to another route leaves the bucket as it was; a new limit starts a full one', async () => {
    assert.equal((await https('api.example.com', '/limited')).status, 429, 'the bucket is empty (previous test)');
    const shopRoute = (mark: string) =>
      route('shop-route', {
        parentRefs: [{ kind: 'Gateway', name: 'edge', sectionName: 'shop' }],
        hostnames: ['shop.example.com'],
        rules: [{ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-mark', value: mark }] } }], backendRefs: [{ name: 'shop' }] }],
      });
    await apply(cp, shopRoute('changed'));
    await waitUntil(async () => (JSON.parse((await https('shop.example.com', '/mark')).body) as Echo).headers['x-mark'] === 'changed', STALL_MS, 'the change reached the gateway');
    assert.equal((await https('api.example.com', '/limited')).status, 429, 'another route changed: still no token');
    await apply(cp, apiRoute(3));
    const statuses: number[] = [];
    await waitUntil(async () => (await https('api.example.com', '/limited')).status === 200, STALL_MS, 'the new limit reached the gateway');
    for (let i = 0; i < 3; i++) statuses.push((await https('api.example.com', '/limited')).status);
    assert.deepEqual(statuses, [200, 200, 429], 'a full bucket of 3 for the new limit (one taken by the wait)');
  });

  it('a request body over edge.maxRequestBodyBytes is refused 413', async () => {
    const r = await curl([`http://127.0.0.1:${http8080}/upload`, '--data-binary', 'x'.repeat(4096)]);
    assert.equal(r.status, 413, r.body);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_PAYLOAD_TOO_LARGE');
  });

  it('an AuthorizationPolicy that allows only the gateway identity: through the gateway 200, another service 403', async () => {
    const edgeId = gw.mesh.identity()!.spiffeId!;
    await apply(cp, {
      apiVersion: API,
      kind: 'AuthorizationPolicy',
      metadata: meta('shop-only-edge'),
      spec: { selector: { service: 'shop' }, action: 'ALLOW', rules: [{ from: { principals: [edgeId] } }] },
    });
    await waitUntil(async () => (await intruder.request('http://shop/direct')).statusCode === 403, STALL_MS, 'the policy reaches shop');
    const r = await https('shop.example.com', '/through-gateway');
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as Echo).peer, edgeId);
  });

  it('live changes: trustedHops 1 keeps one incoming hop, and a Route change reaches the gateway', async () => {
    await apply(cp, gatewayResource(certs, 1));
    await waitUntil(
      async () => (JSON.parse((await curl([`http://127.0.0.1:${http8080}/h`, '-H', 'X-Forwarded-For: 6.6.6.6, 10.0.0.1'])).body) as Echo).headers['x-forwarded-for'] === '10.0.0.1, 127.0.0.1',
      STALL_MS,
      'trustedHops 1 applied',
    );
    const r = await curl([`http://127.0.0.1:${http8080}/h`, '-H', 'Forwarded: for=6.6.6.6, for=10.0.0.1;proto=https', '-H', 'X-Forwarded-Proto: https']);
    const e = JSON.parse(r.body) as Echo;
    assert.equal(e.headers.forwarded, 'for=10.0.0.1;proto=https, for=127.0.0.1;proto=http');
    assert.equal(e.headers['x-forwarded-proto'], 'https', 'the trusted hop says what the client used');

    await apply(
      cp,
      route('plain-route', {
        parentRefs: [{ kind: 'Gateway', name: 'edge', sectionName: 'http' }],
        rules: [{ name: 'plain', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'api' }] }],
      }),
    );
    await waitUntil(async () => (JSON.parse((await curl([`http://127.0.0.1:${http8080}/moved`])).body) as Echo).service === 'api', STALL_MS, 'the route change reaches the gateway');
  });

  it('live listeners: a port added opens, removed closes; a renewed certificate file is served without a restart', async () => {
    await apply(cp, gatewayResource(certs, 1, [{ name: 'extra', port: 9090, protocol: 'HTTP' }]));
    await waitUntil(() => gw.addresses.has(9090), STALL_MS, 'the new listener opens');
    const extra = gw.addresses.get(9090)!.port;
    // It answers (every route here names another listener by sectionName, so: 404, from the new listener).
    const r = await curl([`http://127.0.0.1:${extra}/via-extra`]);
    assert.equal(r.status, 404, r.body);
    assert.match(r.body, /HYPHAE_ERR_NO_ROUTE.*port 9090/);
    await apply(cp, gatewayResource(certs, 1));
    await waitUntil(() => !gw.addresses.has(9090), STALL_MS, 'the removed listener closes');
    await assert.rejects(curl([`http://127.0.0.1:${extra}/gone`]), 'nothing listens there any more');

    // The same file names, a new certificate (a renewal): curl trusting only the new one succeeds once it is re-read.
    const renewed = await hostCertificate(await makeTempDir('hyphae-gw-renew-'), 'shop.example.com');
    await writeFile(certs.shop.key, await readFile(renewed.key));
    await writeFile(certs.shop.cert, await readFile(renewed.cert));
    await waitUntil(
      async () =>
        (await curl(['--cacert', renewed.cert, '--resolve', `shop.example.com:${https8443}:127.0.0.1`, `https://shop.example.com:${https8443}/renewed`]).catch(() => ({ status: 0 }))).status === 200,
      STALL_MS,
      'the renewed certificate is served',
    );
  });

  it('a 90/10 split holds within +-3 % over 2,000 requests', async () => {
    await apply(
      cp,
      route('plain-route', {
        parentRefs: [{ kind: 'Gateway', name: 'edge', sectionName: 'http' }],
        rules: [
          {
            name: 'split',
            backendRefs: [
              { name: 'shop', weight: 90 },
              { name: 'api', weight: 10 },
            ],
          },
        ],
      }),
    );
    const { Pool } = await import('undici');
    const pool = new Pool(`http://127.0.0.1:${http8080}`, { connections: 8 });
    const counts = { shop: 0, api: 0 };
    try {
      // The new route first (the split's count starts after it is in force).
      await waitUntil(
        async () => {
          const seen = new Set<string>();
          for (let i = 0; i < 40; i++) seen.add(((await (await pool.request({ path: '/s', method: 'GET' })).body.json()) as Echo).service);
          return seen.has('shop') && seen.has('api');
        },
        STALL_MS,
        'the split is in force',
      );
      const deadline = performance.now() + 120_000;
      const N = 2_000;
      let sent = 0;
      const worker = async () => {
        while (sent < N && performance.now() < deadline) {
          sent++;
          const res = await pool.request({ path: '/s', method: 'GET' });
          const e = (await res.body.json()) as Echo;
          counts[e.service as 'shop' | 'api']++;
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const total = counts.shop + counts.api;
      assert.equal(total, N, `all ${N} requests answered within the bound`);
      const share = counts.api / total;
      console.log(`# split 90/10 over ${total}: shop ${counts.shop}, api ${counts.api} (${(share * 100).toFixed(1)} %)`);
      assert.ok(Math.abs(share - 0.1) <= 0.03, `api got ${(share * 100).toFixed(1)} %`);
    } finally {
      await pool.close();
    }
  });
});
