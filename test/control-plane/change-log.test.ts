/**
 * GET /v1/changes (control-plane/stats/change-log.ts), on a real control plane: configuration written and
 * instances come and gone, newest first, filtered by the service they concern, bounded, and bad queries
 * refused with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/control-plane/stats/change-log.js';
import { call, deregister, register, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const service = (name: string) => ({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name } });
const route = (name: string, parent: string, backend: string) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Route',
  metadata: { name },
  spec: { parentRefs: [{ name: parent }], rules: [{ backendRefs: [{ name: backend }] }] },
});

describe('GET /v1/changes', () => {
  let cp: RunningControlPlane;
  const changes = async (query = '') => (await call<{ changes: ChangeEvent[] }>(cp.url, 'GET', `/v1/changes${query}`)).body.changes;

  before(async () => {
    cp = await startControlPlane();
  });
  after(() => cp?.stop());

  it('lists config writes and instances come and gone, newest first, per service', async () => {
    assert.equal((await call(cp.url, 'PUT', '/v1/resources', { items: [service('api'), service('web')] })).status, 200);
    assert.equal((await call(cp.url, 'PUT', '/v1/resources', route('to-api', 'web', 'api'))).status, 200);
    const a = await register(cp.url, { service: 'api', address: '127.0.0.1', port: 40001 });
    const b = await register(cp.url, { service: 'api', address: '127.0.0.1', port: 40002 });
    assert.equal(await deregister(cp.url, a.leaseId), 204);
    assert.equal((await call(cp.url, 'DELETE', '/v1/resources/Route/default/to-api')).status, 200);

    const api = await changes('?service=default/api');
    console.log(`changes of api: ${api.map((c) => `${c.kind} ${c.action} ${c.name} ${c.detail}`).join('; ')}`);
    assert.deepEqual(
      api.map((c) => `${c.kind} ${c.action} ${c.detail}`),
      ['config deleted Route', 'instance deregistered 127.0.0.1:40001', 'instance registered 127.0.0.1:40002', 'instance registered 127.0.0.1:40001', 'config created Route', 'config created Service'],
      'the route names api as a backend (its delete too: it carries no resource, the log remembers what it named)',
    );
    const web = await changes('?service=default/web');
    assert.deepEqual(
      web.map((c) => `${c.kind} ${c.action} ${c.name}`),
      ['config deleted to-api', 'config created to-api', 'config created web'],
    );
    const all = await changes('?limit=2');
    assert.equal(all.length, 2);
    assert.equal(all[0]!.action, 'deleted', 'newest first');
    assert.ok(all.every((c) => !Number.isNaN(Date.parse(c.at))));
    await deregister(cp.url, b.leaseId);
  });

  it('refuses a malformed service or limit with the reason, and a caller without a token', async () => {
    for (const q of ['?service=api', '?service=default/API', '?service=a/b/c', '?service=x&service=y', '?limit=0', '?limit=501', '?limit=abc', '?other=1']) {
      const res = await call<{ error: { code: string; message: string } }>(cp.url, 'GET', `/v1/changes${q}`);
      assert.equal(res.status, 400, `${q}: ${res.text}`);
      assert.equal(res.body.error.code, 'HYPHAE_ERR_BAD_REQUEST');
    }
    assert.equal((await call(cp.url, 'GET', '/v1/changes', undefined, { token: null })).status, 401);
  });
});
