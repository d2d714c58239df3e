/**
 * The control-plane client moves on when a replica answers 502/503/504 (up,
 * but cut off from its store), not only when it cannot be reached; real
 * loopback servers stand in for the replicas.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, describe, it } from 'node:test';
import { ErrorCode, isMeshError } from '../../src/core/errors.js';
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { freePorts } from '../helpers/etcd.js';
import { startNamedServer, type TestServer } from '../helpers/http-servers.js';

const unavailable =
  (status: number): http.RequestListener =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'HYPHAE_ERR_STORE_UNAVAILABLE', message: 'etcd did not take the heartbeat' } }));
  };

const healthy =
  (name: string): http.RequestListener =>
  (req, res) => {
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', revision: 1, name }));
  };

describe('control-plane client failover', () => {
  const servers: TestServer[] = [];
  const clients: ControlPlaneClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
  });
  const start = async (name: string, handler: http.RequestListener) => {
    const s = await startNamedServer(name, handler);
    servers.push(s);
    return `http://127.0.0.1:${s.port}`;
  };
  const client = (urls: string[]) => {
    const c = new ControlPlaneClient(urls, { timeoutMs: 1_000 });
    clients.push(c);
    return c;
  };

  it('a 502, 503 or 504 sends the call to the next replica, and the client stays there', async () => {
    for (const status of [502, 503, 504]) {
      const bad = await start(`bad-${status}`, unavailable(status));
      const good = await start(`good-${status}`, healthy(`good-${status}`));
      const c = client([bad, good]);
      const res = await c.call<{ name: string }>('PUT', '/v1/leases/abc');
      assert.equal(res.body.name, `good-${status}`);
      assert.equal(c.currentUrl, good, 'the next call starts at the replica that answered');
    }
  });

  it('a refusal (4xx) is not failed over: another replica would refuse it too', async () => {
    const refusing = await start('refusing', (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'HYPHAE_ERR_INVALID_REQUEST', message: 'bad' } }));
    });
    const good = await start('good-4xx', healthy('good-4xx'));
    const c = client([refusing, good]);
    await assert.rejects(c.call('POST', '/v1/instances', {}), (err: unknown) => {
      assert.ok(isMeshError(err, ErrorCode.CONTROL_PLANE_REJECTED));
      assert.equal(err.details?.status, 400);
      return true;
    });
    assert.equal(servers.find((s) => s.name === 'good-4xx')!.hits, 0);
  });

  it('when no replica can serve, the error is retryable CONTROL_PLANE_UNREACHABLE naming each answer', async () => {
    const a = await start('down-a', unavailable(503));
    const [closedPort] = await freePorts(1);
    const b = `http://127.0.0.1:${closedPort}`;
    const c = client([a, b]);
    await assert.rejects(c.call('PUT', '/v1/leases/abc'), (err: unknown) => {
      assert.ok(isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE));
      assert.equal(err.retryable, true);
      assert.equal(err.details?.status, 503);
      assert.equal(err.details?.apiCode, 'HYPHAE_ERR_STORE_UNAVAILABLE');
      assert.match(err.message, new RegExp(`${a}: answered 503 to PUT /v1/leases/abc: etcd did not take the heartbeat`));
      assert.match(err.message, new RegExp(`${b}: .*ECONNREFUSED`));
      return true;
    });
  });

  it('health() prefers a healthy replica, and reports a degraded one rather than failing when none is', async () => {
    const degradedBody = { status: 'unavailable', revision: 7, store: { ok: false, error: 'etcd unreachable' } };
    const degraded = await start('degraded', (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(degradedBody));
    });
    const good = await start('good-health', healthy('good-health'));
    const both = client([degraded, good]);
    assert.equal((await both.health()).status, 'ok');
    assert.equal(both.currentUrl, good);
    const only = client([degraded]);
    assert.deepEqual(await only.health(), degradedBody);
  });

  it('two failovers from the same replica (watch stream and heartbeat) move the client once, not back onto it', async () => {
    const c = client(['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3']);
    const from = c.currentUrl;
    const next = c.rotate(from);
    assert.notEqual(next, from);
    assert.equal(c.rotate(from), next, 'already moved away from it');
    assert.notEqual(c.rotate(), next, 'without a replica, it moves on');
  });
});
