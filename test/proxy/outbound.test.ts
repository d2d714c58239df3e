/**
 * A client in another language calls the mesh through `hyphae proxy`: Python's
 * urllib with HTTP_PROXY pointing at the proxy's outbound listener, calling a
 * Node mesh service of three instances by name. The requests go through the
 * whole client stack: balanced over the instances, retried away from one that
 * is killed mid-run, and bounded by the deadline the Python caller sets.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, type RunningService } from '../helpers/services.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { clientResults, startCliProxy, startPythonApp, startPythonClient, type CliProxy, type PythonApp } from '../helpers/python.js';

/** Bounds that catch a stall, not expectations. */
const STALL_MS = 60_000;

describe('hyphae proxy outbound: a Python client calls a Node mesh service through HTTP_PROXY', () => {
  let cp: RunningControlPlane;
  let app: PythonApp;
  let proxy: CliProxy;
  let apis: RunningService[] = [];
  let slowMesh: Mesh;
  let proxyUrl: string;

  before(async () => {
    cp = await startControlPlane();
    apis = await Promise.all([startApi(cp), startApi(cp), startApi(cp)]);
    app = await startPythonApp(0, 'pyclient');
    proxy = await startCliProxy(cp, 'pyclient', app.port, ['--listen', '127.0.0.1:0', '--outbound', '127.0.0.1:0']);
    proxyUrl = `http://${proxy.outbound!.host}:${proxy.outbound!.port}`;
    // A Node service whose handler takes longer than any caller waits; it ends when its caller gives up.
    slowMesh = await createMesh({ ...(await cp.meshOptions('slow')), logger: silentLogger, server: { drainDelayMs: 0, gracePeriodMs: 1_000 } });
    const slow = slowMesh.wrapServer(
      http.createServer((_req, res) => {
        const timer = setTimeout(() => res.end('late'), 10_000);
        res.once('close', () => clearTimeout(timer));
      }),
    );
    slow.listen(0, '127.0.0.1');
    await slowMesh.registered(slow);
  });

  after(async () => {
    await slowMesh?.close();
    await proxy?.child.kill();
    await app?.child.kill();
    await Promise.all(apis.map((a) => a.child.kill()));
    await cp?.stop();
  });

  async function run(url: string, count: number, intervalMs: number, headers: Record<string, string> = {}, during?: (results: () => number) => Promise<void>) {
    const client = startPythonClient(proxyUrl, url, count, intervalMs, headers);
    if (during) await during(() => clientResults(client).length);
    await client.waitFor(/^done$/, STALL_MS);
    await client.exited;
    return clientResults(client);
  }

  it("balances over the three instances (the Service's round_robin, read by the client stack)", async () => {
    // The default (P2C over peak EWMA) favours whichever instance answers fastest on this busy machine; round
    // robin makes the share each instance gets a checkable number.
    const applied = await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'api' }, spec: { loadBalancer: 'round_robin' } });
    assert.equal(applied.status, 200, applied.text);
    // The proxy's destination picks the change up from its watch: wait until its answers rotate over the three
    // (twice in a row, so that P2C's chance order does not pass for it).
    const rotates = async () => {
      const ids = (await run('http://api/warm', 6, 0)).map((r) => (r.status === 200 ? (JSON.parse(r.body) as { instance: string }).instance : '?'));
      return new Set(ids.slice(0, 3)).size === 3 && !ids.includes('?') && ids.every((id, i) => i < 3 || id === ids[i - 3]);
    };
    await waitUntil(async () => (await rotates()) && (await rotates()), STALL_MS, 'round robin reaches the proxy');
    const results = await run('http://api/items', 60, 0);
    assert.equal(results.length, 60);
    assert.deepEqual(
      results.filter((r) => r.status !== 200),
      [],
    );
    const per = new Map<string, number>();
    for (const r of results) {
      const instance = (JSON.parse(r.body) as { instance: string }).instance;
      per.set(instance, (per.get(instance) ?? 0) + 1);
    }
    assert.deepEqual([...per.keys()].sort(), apis.map((a) => a.id).sort(), 'every instance answered');
    for (const [instance, n] of per) assert.ok(n >= 15, `each instance takes its third (${instance}: ${n} of 60)`);
  });

  it('an instance killed mid-run costs no failed GET (the mesh retries elsewhere)', async () => {
    const victim = apis[0]!;
    const results = await run('http://api/items', 80, 20, {}, async (done) => {
      const started = performance.now();
      while (done() < 15 && performance.now() - started < STALL_MS) await new Promise((r) => setTimeout(r, 10));
      await victim.child.kill('SIGKILL');
    });
    assert.equal(results.length, 80);
    assert.deepEqual(
      results.filter((r) => r.status !== 200),
      [],
      'no GET failed',
    );
    const after = results.slice(40).map((r) => (JSON.parse(r.body) as { instance: string }).instance);
    assert.ok(!after.includes(victim.id), 'the killed instance answers nothing later');
  });

  it("the caller's x-hyphae-deadline-ms is honoured: 504 at about the deadline from a handler that takes longer", async () => {
    const [r] = await run('http://slow/', 1, 0, { 'x-hyphae-deadline-ms': '400' });
    assert.equal(r!.status, 504);
    assert.equal((JSON.parse(r!.body) as { error: { code: string } }).error.code, 'HYPHAE_ERR_DEADLINE_EXCEEDED');
    // The handler would take 10 s; the generous bound only tells a deadline kept from one ignored.
    assert.ok(r!.ms < 5_000, `answered at about 400 ms, took ${r!.ms} ms`);
  });
});
