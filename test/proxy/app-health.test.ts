/**
 * The proxy watches the application as Consul's checks do: the Python app
 * stops answering -> the instance leaves the registry (and the inbound
 * listener closes, so callers get a refused connect they retry elsewhere);
 * it answers again on its port -> the instance comes back. And the GET form
 * of the check, with its failure and success thresholds.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { AppHealthCheck } from '../../src/proxy/app-health.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { startCliProxy, startPythonApp, type CliProxy, type EchoAnswer, type PythonApp } from '../helpers/python.js';

const STALL_MS = 30_000;

describe('hyphae proxy: the health check of the application', () => {
  let cp: RunningControlPlane;
  let app: PythonApp;
  let proxy: CliProxy;
  let web: Mesh;

  before(async () => {
    cp = await startControlPlane();
    app = await startPythonApp();
    proxy = await startCliProxy(cp, 'legacy', app.port, ['--listen', '127.0.0.1:0', '--outbound', 'off', '--health-interval', '200ms', '--health-timeout', '500ms', '--health-failures', '2']);
    web = await createMesh({ ...(await cp.meshOptions('web')), logger: silentLogger });
  });

  after(async () => {
    await web?.close();
    await proxy?.child.kill();
    await app?.child.kill();
    await cp?.stop();
  });

  async function instances(): Promise<{ id: string; port: number }[]> {
    const res = await call<{ instances: { id: string; port: number }[] }>(cp.url, 'GET', '/v1/instances?service=legacy');
    assert.equal(res.status, 200, res.text);
    return res.body.instances;
  }

  it('the app stops: the instance leaves the registry; it answers again: the instance returns, on the same port', async () => {
    await waitUntil(async () => (await instances()).length === 1, STALL_MS, 'registered');
    const [before] = await instances();
    assert.equal(before!.port, proxy.inbound!.port);
    await app.child.kill('SIGKILL');
    await waitUntil(async () => (await instances()).length === 0, STALL_MS, 'the instance leaves the registry');
    await proxy.child.waitFor(/does not answer; deregistering/, STALL_MS);

    app = await startPythonApp(app.port);
    await waitUntil(async () => (await instances()).length === 1, STALL_MS, 'the instance returns');
    const [back] = await instances();
    assert.equal(back!.port, before!.port, 'the inbound listener listens on its port again');
    const res = await web.request('http://legacy/again', { headersTimeout: STALL_MS, bodyTimeout: STALL_MS });
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as EchoAnswer).path, '/again');
  });

  it('SIGTERM drains: deregisters and exits 0', async () => {
    await waitUntil(async () => (await instances()).length === 1, STALL_MS, 'registered');
    const code = await proxy.child.kill('SIGTERM');
    assert.equal(code, 0);
    assert.equal((await instances()).length, 0, 'deregistered before exit');
    assert.match(proxy.child.lines.join('\n'), /draining on signal/);
  });
});

describe('AppHealthCheck with a path', () => {
  let status = 200;
  let server: http.Server;
  let pool: Pool;
  let port: number;

  before(async () => {
    server = http.createServer((req, res) => {
      res.statusCode = req.url === '/health' ? status : 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    pool = new Pool(`http://127.0.0.1:${port}`);
  });

  after(async () => {
    await pool.close();
    server.close();
  });

  it('decides at the first check, then changes only after `failures` failed or `successes` passed checks in a row', async () => {
    const verdicts: { healthy: boolean; at: number }[] = [];
    let checks = 0;
    server.on('request', () => checks++);
    const check = new AppHealthCheck({ host: '127.0.0.1', port }, { path: '/health', intervalMs: 50, timeoutMs: 1_000, failures: 3, successes: 2 }, pool, (healthy) =>
      verdicts.push({ healthy, at: checks }),
    );
    try {
      await check.start();
      assert.deepEqual(verdicts, [{ healthy: true, at: 1 }]);
      status = 503;
      const failingFrom = checks;
      await waitUntil(() => verdicts.length === 2, STALL_MS, 'unhealthy after failures');
      assert.equal(verdicts[1]!.healthy, false);
      assert.ok(verdicts[1]!.at - failingFrom >= 3, `three failed checks first (${verdicts[1]!.at - failingFrom})`);
      status = 200;
      const passingFrom = checks;
      await waitUntil(() => verdicts.length === 3, STALL_MS, 'healthy after successes');
      assert.equal(verdicts[2]!.healthy, true);
      assert.ok(verdicts[2]!.at - passingFrom >= 2, `two passed checks first (${verdicts[2]!.at - passingFrom})`);
    } finally {
      await check.stop();
    }
  });
});
