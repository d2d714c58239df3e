import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetch as undiciFetch, request as undiciRequest } from 'undici';
import { createMesh, ErrorCode, isMeshError, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { startNamedServer, type TestServer } from '../helpers/http-servers.js';

describe('mesh calls with a static resolver (real loopback servers)', () => {
  let servers: TestServer[];
  let plain: TestServer;
  let resolver: StaticResolver;
  let mesh: Mesh;

  before(async () => {
    servers = await Promise.all(['a', 'b', 'c'].map((n) => startNamedServer(n)));
    plain = await startNamedServer('plain');
    resolver = new StaticResolver({
      api: servers.map((s) => ({ address: '127.0.0.1', port: s.port })),
      empty: [],
    });
    // peak_ewma is the default; this file is about the call paths, so it asks for round robin like an operator would.
    resolver.configure('api', { config: { loadBalancer: 'round_robin' } });
    mesh = await createMesh({ resolver });
  });

  after(async () => {
    await mesh.close();
    await Promise.all([...servers, plain].map((s) => s.close()));
  });

  it('mesh.request spreads calls round-robin over every endpoint', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const res = await mesh.request('http://api/items?x=1');
      assert.equal(res.statusCode, 200);
      const body = (await res.body.json()) as { name: string; url: string };
      assert.equal(body.url, '/items?x=1');
      counts.set(body.name, (counts.get(body.name) ?? 0) + 1);
    }
    assert.deepEqual([...counts.values()].sort(), [10, 10, 10]);
  });

  it('mesh.fetch, undici.fetch and undici.request with the mesh dispatcher reach the service', async () => {
    const r1 = await mesh.fetch('http://api/f', { method: 'POST', body: 'hello' });
    assert.equal(r1.status, 200);
    assert.equal(((await r1.json()) as { method: string }).method, 'POST');
    const r2 = await undiciFetch('http://api/g', { dispatcher: mesh.dispatcher });
    assert.equal(((await r2.json()) as { url: string }).url, '/g');
    const r3 = await undiciRequest('http://api/h', { dispatcher: mesh.dispatcher });
    assert.equal(((await r3.body.json()) as { url: string }).url, '/h');
  });

  it('streams a large body through without loss, with backpressure', async () => {
    const big = await startNamedServer('big', (_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let n = 0;
      const write = () => {
        while (n < 64) {
          n++;
          if (!res.write(chunk)) return res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    resolver.set('big', [{ address: '127.0.0.1', port: big.port }]);
    try {
      const res = await mesh.request('http://big/');
      let total = 0;
      for await (const c of res.body) {
        total += (c as Buffer).length;
        if (total < 512 * 1024) await new Promise((r) => setImmediate(r));
      }
      assert.equal(total, 64 * 64 * 1024);
      const f = await mesh.fetch('http://big/');
      assert.equal((await f.arrayBuffer()).byteLength, 64 * 64 * 1024);
    } finally {
      await big.close();
    }
  });

  it('hosts that are not mesh services pass through untouched', async () => {
    const res = await mesh.request(`http://127.0.0.1:${plain.port}/direct`);
    assert.equal(((await res.body.json()) as { name: string }).name, 'plain');
    const f = await mesh.fetch(`http://localhost:${plain.port}/direct`);
    assert.equal(((await f.json()) as { name: string }).name, 'plain');
  });

  it('an unknown service fails with HYPHAE_ERR_SERVICE_NOT_FOUND', async () => {
    await assert.rejects(mesh.request('http://nosuch/'), (err) => isMeshError(err, ErrorCode.SERVICE_NOT_FOUND) && err.rejected);
    await assert.rejects(mesh.fetch('http://nosuch/'), (err: Error) => isMeshError(err.cause, ErrorCode.SERVICE_NOT_FOUND));
  });

  it('a service with no instances fails with HYPHAE_ERR_NO_ENDPOINTS', async () => {
    await assert.rejects(mesh.request('http://empty/'), (err) => isMeshError(err, ErrorCode.NO_ENDPOINTS));
  });

  it('an endpoint that refuses connections fails with HYPHAE_ERR_CONNECT_FAILED', async () => {
    const gone = await startNamedServer('gone');
    const port = gone.port;
    await gone.close();
    resolver.set('dead', [{ address: '127.0.0.1', port }]);
    await assert.rejects(mesh.request('http://dead/'), (err) => isMeshError(err, ErrorCode.CONNECT_FAILED) && err.retryable);
  });

  it('an application abort reaches the request', async () => {
    const slow = await startNamedServer('slow', () => {
      /* never answers */
    });
    resolver.set('slow', [{ address: '127.0.0.1', port: slow.port }]);
    try {
      const ac = new AbortController();
      const p = mesh.request('http://slow/', { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(p, (err: Error) => err.name === 'AbortError' || /abort/i.test(err.message));
    } finally {
      await slow.close();
    }
  });

  it('endpoint changes apply to the next call; removed endpoints stop getting traffic', async () => {
    resolver.set('api', [{ address: '127.0.0.1', port: servers[0]!.port }]);
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) {
      const body = (await (await mesh.request('http://api/')).body.json()) as { name: string };
      assert.equal(body.name, 'a');
    }
    resolver.set(
      'api',
      servers.map((s) => ({ address: '127.0.0.1', port: s.port })),
    );
  });
});

describe('mesh lifecycle and options', () => {
  it('passthrough: deny refuses hosts that are not mesh services', async () => {
    const mesh = await createMesh({ resolver: new StaticResolver(), passthrough: 'deny' });
    try {
      await assert.rejects(mesh.request('http://127.0.0.1:9/'), (err) => isMeshError(err, ErrorCode.PASSTHROUGH_DENIED));
    } finally {
      await mesh.close();
    }
  });

  it('a closed mesh fails calls with HYPHAE_ERR_MESH_CLOSED', async () => {
    const mesh = await createMesh({ resolver: new StaticResolver({ api: [{ address: '127.0.0.1', port: 9 }] }) });
    await mesh.close();
    await assert.rejects(mesh.request('http://api/'), (err) => isMeshError(err, ErrorCode.MESH_CLOSED));
  });

  it('invalid options list every problem with HYPHAE_ERR_INVALID_OPTIONS', async () => {
    await assert.rejects(
      createMesh({ controlPlane: 'ftp://x', namespace: 'Bad_NS', connectAttempts: 0 } as never),
      (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS) && /controlPlane/.test(err.message) && /namespace/.test(err.message) && /connectAttempts/.test(err.message),
    );
    await assert.rejects(createMesh({} as never), (err) => isMeshError(err, ErrorCode.INVALID_OPTIONS) && /controlPlane/.test(err.message));
  });

  it('an unreachable control plane fails createMesh after bounded attempts', async () => {
    const started = Date.now();
    await assert.rejects(
      createMesh({ controlPlane: 'http://127.0.0.1:9', connectAttempts: 3 }),
      (err) => isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE) && /after 3 attempts/.test(err.message),
    );
    assert.ok(Date.now() - started < 10_000);
  });
});
