/** Configuration resources over the API, and their survival across a control-plane restart. */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { cliPath, startNode } from '../helpers/process.js';
import { Watcher, call, makeTempDir, startControlPlane, type ErrorResponse, type RunningControlPlane } from '../helpers/control-plane.js';

const service = (name: string, namespace = 'default', labels?: Record<string, string>) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Service',
  metadata: labels ? { name, namespace, labels } : { name, namespace },
  spec: { loadBalancer: 'round_robin' },
});

interface ApplyBody {
  revision: number;
  results: { kind: string; namespace: string; name: string; action: string }[];
}
interface ListBody {
  revision: number;
  items: ReturnType<typeof service>[];
}

describe('resources', () => {
  let dataDir: string;
  let cp: RunningControlPlane;

  before(async () => {
    dataDir = await makeTempDir();
    cp = await startControlPlane({ dataDir });
  });
  after(async () => {
    await cp?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('applies one resource (created), then the same again (unchanged, no new revision)', async () => {
    const first = await call<ApplyBody>(cp.url, 'PUT', '/v1/resources', service('api'));
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, { revision: 1, results: [{ kind: 'Service', namespace: 'default', name: 'api', action: 'created' }] });
    const again = await call<ApplyBody>(cp.url, 'PUT', '/v1/resources', service('api'));
    assert.deepEqual(again.body, { revision: 1, results: [{ kind: 'Service', namespace: 'default', name: 'api', action: 'unchanged' }] });
    await cp.child.waitFor(/apply Service default\/api \(created\) rev=1/);
  });

  it('applies a list in one revision: updated and created together', async () => {
    const res = await call<ApplyBody>(cp.url, 'PUT', '/v1/resources', {
      items: [service('api', 'default', { team: 'core' }), service('web', 'shop'), service('db')],
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.revision, 2);
    assert.deepEqual(
      res.body.results.map((r) => `${r.namespace}/${r.name}:${r.action}`),
      ['default/api:updated', 'shop/web:created', 'default/db:created'],
    );
  });

  it('gets one resource, lists all and by kind, 404 for a missing one, 400 for a bad kind or name', async () => {
    const one = await call<{ revision: number; resource: unknown }>(cp.url, 'GET', '/v1/resources/Service/default/api');
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, { revision: 2, resource: service('api', 'default', { team: 'core' }) });

    const all = await call<ListBody>(cp.url, 'GET', '/v1/resources');
    assert.equal(all.body.revision, 2);
    assert.deepEqual(
      all.body.items.map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
      ['default/api', 'default/db', 'shop/web'],
      'ordered by kind, namespace, name',
    );
    const byKind = await call<ListBody>(cp.url, 'GET', '/v1/resources?kind=Service');
    assert.equal(byKind.body.items.length, 3);

    const missing = await call<ErrorResponse['body']>(cp.url, 'GET', '/v1/resources/Service/default/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'HYPHAE_ERR_NOT_FOUND');
    assert.match(missing.body.error.message, /no Service default\/nope/);

    const badKind = await call<ErrorResponse['body']>(cp.url, 'GET', '/v1/resources?kind=Gadget');
    assert.equal(badKind.status, 400);
    assert.match(badKind.body.error.message, /unknown resource kind "Gadget"; known kinds: Service/);
    const badName = await call<ErrorResponse['body']>(cp.url, 'GET', '/v1/resources/Service/default/Not_Valid');
    assert.equal(badName.status, 400);
    assert.match(badName.body.error.message, /invalid name "Not_Valid"/);
  });

  it('rejects a list with invalid items as a whole, listing every issue under items[i]', async () => {
    const res = await call<ErrorResponse['body']>(cp.url, 'PUT', '/v1/resources', {
      items: [
        service('fine'),
        { ...service('Bad_Name'), spec: { loadBalancer: 'random' } },
        { apiVersion: 'hyphae.dev/v1', kind: 'Gadget', metadata: { name: 'x' } },
        { ...service('extra'), metadata: { name: 'extra', colour: 'red' }, status: {} },
        service('fine'),
      ],
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'HYPHAE_ERR_INVALID_CONFIG');
    assert.deepEqual(
      res.body.error.issues!.map((i) => i.path),
      ['items[1].metadata.name', 'items[1].spec.loadBalancer', 'items[2].kind', 'items[3].metadata.colour', 'items[3].status', 'items[4]'],
    );
    const messages = Object.fromEntries(res.body.error.issues!.map((i) => [i.path, i.message]));
    assert.match(messages['items[1].metadata.name']!, /lower-case DNS label/);
    assert.match(messages['items[2].kind']!, /must be one of: Service/);
    assert.equal(messages['items[3].status'], 'unknown field');
    assert.match(messages['items[4]']!, /also items\[0\]; a resource may appear once per apply/);
    assert.match(res.body.error.message, /^invalid resources \(nothing was applied\): items\[1\]\.metadata\.name: /);

    const list = await call<ListBody>(cp.url, 'GET', '/v1/resources');
    assert.equal(list.body.revision, 2, 'all-or-nothing: the valid item was not applied either');
    assert.equal(list.body.items.length, 3);
  });

  it('rejects a single invalid resource with every issue, and a bare array with a hint', async () => {
    const single = await call<ErrorResponse['body']>(cp.url, 'PUT', '/v1/resources', { kind: 'Service', metadata: { name: 'x', namespace: 'UPPER' } });
    assert.equal(single.status, 400);
    assert.deepEqual(
      single.body.error.issues!.map((i) => i.path),
      ['apiVersion', 'metadata.namespace'],
    );
    const array = await call<ErrorResponse['body']>(cp.url, 'PUT', '/v1/resources', [service('x')]);
    assert.equal(array.status, 400);
    assert.match(array.body.error.message, /\{"items": \[\.\.\.\]\}/);
  });

  it('deletes: 200 with a new revision, then 404', async () => {
    const del = await call<{ revision: number }>(cp.url, 'DELETE', '/v1/resources/Service/default/db');
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { revision: 3 });
    const again = await call<ErrorResponse['body']>(cp.url, 'DELETE', '/v1/resources/Service/default/db');
    assert.equal(again.status, 404);
    await cp.child.waitFor(/delete Service default\/db \(deleted\) rev=3/);
  });

  it('keeps every resource and the revision across a restart (SIGTERM, new process, same data dir)', async () => {
    const before = await call<ListBody>(cp.url, 'GET', '/v1/resources');
    assert.equal(await cp.stop(), 0, 'SIGTERM is a clean exit');
    cp = await startControlPlane({ dataDir });

    const afterRestart = await call<ListBody>(cp.url, 'GET', '/v1/resources');
    assert.deepEqual(afterRestart.body, before.body);
    const health = await call<{ revision: number }>(cp.url, 'GET', '/v1/health');
    assert.equal(health.body.revision, 3);

    // Watchers see the stored config, with a version no older than the resource's revision.
    const w = await Watcher.open(cp.url, ['api']);
    try {
      const snap = await w.waitForService('api');
      assert.equal(snap.exists, true);
      assert.deepEqual(snap.config, { loadBalancer: 'round_robin' });
      assert.ok(snap.version >= 2);
    } finally {
      await w.close();
    }
    const next = await call<ApplyBody>(cp.url, 'PUT', '/v1/resources', service('after-restart'));
    assert.equal(next.body.revision, 4, 'revisions keep growing after a restart');
  });

  it('refuses to start a second control plane on a data dir in use', async () => {
    const second = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dataDir]);
    assert.equal(await second.exited, 1);
    assert.match(second.lines.join('\n'), /data directory .* is in use by another control plane \(pid \d+ on host /);
    const health = await call(cp.url, 'GET', '/v1/health');
    assert.equal(health.status, 200, 'the first one is unaffected');
  });

  it('starts after a crash (SIGKILL leaves a stale lock) with the resources intact', async () => {
    assert.equal(await cp.stop('SIGKILL'), null);
    cp = await startControlPlane({ dataDir });
    const list = await call<ListBody>(cp.url, 'GET', '/v1/resources');
    assert.equal(list.body.revision, 4);
    assert.equal(list.body.items.length, 3);
  });
});
