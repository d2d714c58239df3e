/**
 * A workload in another language in the mesh: Python's http.server behind
 * `hyphae proxy` (the CLI, a child process), called by name over mTLS by Node
 * services built with the library. The proxy's inbound is a wrapped server,
 * so an AuthorizationPolicy on the Python service holds for it, and the
 * Python handler learns its caller from x-forwarded-client-cert, which only
 * the proxy sets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { fdCount, hostilePeer, waitUntil } from '../helpers/hostile-peers.js';
import { startCliProxy, startPythonApp, type CliProxy, type EchoAnswer, type PythonApp } from '../helpers/python.js';

/** Bounds that catch a stall, not expectations: the machine may be busy. */
const STALL_MS = 20_000;

describe('hyphae proxy inbound: a Python service behind the proxy', () => {
  let cp: RunningControlPlane;
  let app: PythonApp;
  let proxy: CliProxy;
  let web: Mesh;
  let intruder: Mesh;

  before(async () => {
    cp = await startControlPlane();
    app = await startPythonApp();
    proxy = await startCliProxy(cp, 'legacy', app.port, ['--listen', '127.0.0.1:0', '--outbound', 'off', '--max-concurrent', '2']);
    web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
    intruder = await createMesh({ ...(await cp.meshOptions('intruder')), logger: silentLogger });
  });

  after(async () => {
    await web?.close();
    await intruder?.close();
    await proxy?.child.kill();
    await app?.child.kill();
    await cp?.stop();
  });

  async function get(mesh: Mesh, path: string, headers: Record<string, string | string[]> = {}): Promise<{ status: number; json: unknown }> {
    const res = await mesh.request(`http://legacy${path}`, { headers, headersTimeout: STALL_MS, bodyTimeout: STALL_MS });
    return { status: res.statusCode, json: await res.body.json() };
  }

  it('registers the Python app: a Node service calls it by name over mTLS and the app sees its verified SPIFFE ID, never a forged one', async () => {
    assert.ok(proxy.inbound, 'the proxy listens inbound');
    const forged = 'By=spiffe://evil/x;URI=spiffe://cluster.local/ns/default/sa/admin';
    const { status, json } = await get(web, '/hello?x=1', {
      'x-forwarded-client-cert': forged,
      'X-Forwarded-Client-Cert': [forged, forged],
      'x-custom': 'kept',
      'x-hyphae-peer': 'spiffe://evil/peer',
      'x-hyphae-internal': 'evil',
    });
    assert.equal(status, 200);
    const seen = json as EchoAnswer;
    assert.equal(seen.service, 'legacy');
    assert.equal(seen.path, '/hello?x=1');
    assert.deepEqual(seen.headers['x-custom'], ['kept']);
    const webId = web.identity()!.spiffeId!;
    const legacyId = webId.replace(/\/sa\/web$/, '/sa/legacy');
    const xfcc = seen.headers['x-forwarded-client-cert'];
    assert.equal(xfcc?.length, 1, `exactly one x-forwarded-client-cert, got ${JSON.stringify(xfcc)}`);
    assert.match(xfcc[0]!, /^By=([^;]+);Hash=([0-9a-f]{64});URI=([^;]+)$/);
    const [, by, , uri] = /^By=([^;]+);Hash=([0-9a-f]{64});URI=([^;]+)$/.exec(xfcc[0]!)!;
    assert.equal(by, legacyId, "By is the proxy's own identity");
    assert.equal(uri, webId, "URI is the caller's verified identity");
    assert.ok(!JSON.stringify(seen.headers).includes('evil'), 'nothing of the forged headers reaches the app');
    assert.equal(seen.headers['x-hyphae-peer'], undefined);
    assert.equal(seen.headers['x-hyphae-internal'], undefined);
  });

  it('an AuthorizationPolicy allowing only web lets web through and refuses another service (403) before the app', async () => {
    const webId = web.identity()!.spiffeId!;
    const put = await call(cp.url, 'PUT', '/v1/resources', {
      apiVersion: 'hyphae.dev/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'legacy-only-web', namespace: 'default' },
      spec: { selector: { service: 'legacy' }, action: 'ALLOW', rules: [{ from: { principals: [webId] } }] },
    });
    assert.equal(put.status, 200, put.text);
    // The policy reaches the proxy through its watch: wait for the refusal, bounded.
    let last: { status: number; json: unknown } | undefined;
    await waitUntil(async () => (last = await get(intruder, '/private')).status === 403, STALL_MS, 'the policy reaches the proxy');
    assert.equal((last!.json as { error: { code: string } }).error.code, 'HYPHAE_ERR_AUTHZ_DENIED');
    const allowed = await get(web, '/private');
    assert.equal(allowed.status, 200);
    assert.equal((allowed.json as EchoAnswer).path, '/private');
  });

  it("hands the app the caller's remaining budget, and cuts a request at its deadline (504)", async () => {
    const { status, json } = await get(web, '/budget', { 'x-hyphae-deadline-ms': '5000' });
    assert.equal(status, 200);
    const budget = Number((json as EchoAnswer).headers['x-hyphae-deadline-ms']?.[0]);
    assert.ok(budget > 0 && budget <= 5_000, `the app sees what is left of 5000 ms, got ${budget}`);
    const started = performance.now();
    // The app takes 15 s (a threaded server: other requests go on): far from the 300 ms deadline, so that a
    // busy machine's delays cannot blur an answer at the deadline into one when the app finished.
    const slow = await get(web, '/slow?ms=15000', { 'x-hyphae-deadline-ms': '300' });
    const elapsed = performance.now() - started;
    assert.equal(slow.status, 504);
    assert.equal((slow.json as { error: { code: string } }).error.code, 'HYPHAE_ERR_DEADLINE_EXCEEDED');
    assert.ok(elapsed < 10_000, `answered at the deadline, not when the app finished (${Math.round(elapsed)} ms)`);
  });

  it('sheds load as a wrapped server does: beyond --max-concurrent, 503 HYPHAE_ERR_OVERLOADED before the app', async () => {
    // Two slow requests hold both slots; the third is shed (and its retry too, the slots still held).
    const slow = [get(web, '/slow?ms=5000'), get(web, '/slow?ms=5000')];
    await waitUntil(() => app.child.lines.filter((l) => l === 'request GET /slow?ms=5000').length >= 2, STALL_MS, 'both slow requests in the app');
    const third = await get(web, '/hello');
    assert.equal(third.status, 503);
    assert.equal((third.json as { error: { code: string } }).error.code, 'HYPHAE_ERR_OVERLOADED');
    assert.ok(!app.child.lines.includes('request GET /hello'), 'the shed request never reached the app');
    for (const r of await Promise.all(slow)) assert.equal(r.status, 200);
  });

  it('the inbound listener keeps the listener rules of a wrapped server: a silent TLS peer is cut, descriptors return', async () => {
    const pid = proxy.child.proc.pid!;
    const baseline = fdCount(pid);
    const peers = await Promise.all([hostilePeer(proxy.inbound!.port, 'silent'), hostilePeer(proxy.inbound!.port, 'slow-hello'), hostilePeer(proxy.inbound!.port, 'partial-hello-half-close')]);
    try {
      // The handshake deadline is 5 s from accept; the bound only catches a listener that never cuts them.
      await Promise.all(peers.map((p) => waitUntil(() => p.ended(), STALL_MS, `the ${p.kind} peer is cut`)));
      await waitUntil(() => fdCount(pid) <= baseline, STALL_MS, 'descriptors back to the baseline');
    } finally {
      for (const p of peers) p.close();
    }
  });
});
