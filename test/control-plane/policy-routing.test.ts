/**
 * AuthorizationPolicies reach the watchers of the services they select
 * (ConfigIndex): by selector, or namespace-wide; on apply, update, selector
 * change and delete — and nobody else hears of them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceSnapshot } from '../../src/config/wire.js';
import { call, startControlPlane, Watcher, type ErrorResponse, type RunningControlPlane } from '../helpers/control-plane.js';

function policyResource(name: string, namespace: string, selector: string | undefined, paths: string[]) {
  return {
    apiVersion: 'hyphae.dev/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace },
    spec: { ...(selector ? { selector: { service: selector } } : {}), action: 'DENY', rules: [{ to: { paths: paths.map((value) => ({ value })) } }] },
  };
}

const names = (s: ServiceSnapshot) => s.policies.map((p) => p.metadata.name).sort();
const pathsOf = (s: ServiceSnapshot, name: string) => s.policies.find((p) => p.metadata.name === name)?.spec.rules[0]?.to?.paths?.map((p) => p.value);

describe('policies reach the watchers of the services they select', () => {
  let cp: RunningControlPlane;
  let a: Watcher;
  let b: Watcher;
  const SERVICES = ['shop/api', 'shop/web', 'other/api'];
  const latencies: number[] = [];

  before(async () => {
    cp = await startControlPlane();
    a = await Watcher.open(cp.url, SERVICES);
    b = await Watcher.open(cp.url, ['shop/api']);
    for (const s of SERVICES) await a.waitForService(s);
    await b.waitForService('shop/api');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await cp?.stop();
    if (latencies.length) console.log(`# policy pushes: ${latencies.length} snapshots awaited, write -> snapshot at most ${Math.max(...latencies).toFixed(1)} ms`);
  });

  /** Apply (PUT) or delete, then wait for the named service's snapshot that satisfies `pred` on every watcher given. */
  async function change(doIt: () => Promise<{ status: number }>, expect: { ref: string; watchers: Watcher[]; pred: (s: ServiceSnapshot) => boolean }[]): Promise<void> {
    const marks = new Map([a, b].map((w) => [w, w.events.length]));
    const t0 = performance.now();
    const res = await doIt();
    assert.equal(res.status, 200);
    for (const e of expect) {
      for (const w of e.watchers) {
        const snap = await w.waitForService(e.ref, e.pred, 2_000, marks.get(w));
        latencies.push(snap.at - t0);
      }
    }
  }

  const put = (r: unknown) => () => call(cp.url, 'PUT', '/v1/resources', r);
  const del = (ns: string, name: string) => () => call(cp.url, 'DELETE', `/v1/resources/AuthorizationPolicy/${ns}/${name}`);

  it('a policy with a selector reaches every watcher of that service, and no other service', async () => {
    const before = new Map(SERVICES.map((s) => [s, a.snapshots(s).length]));
    await change(put(policyResource('guard', 'shop', 'api', ['/admin'])), [{ ref: 'shop/api', watchers: [a, b], pred: (s) => names(s).join() === 'guard' }]);
    await sleep(100);
    assert.equal(a.snapshots('shop/web').length, before.get('shop/web'), 'shop/web heard nothing');
    assert.equal(a.snapshots('other/api').length, before.get('other/api'), 'other/api (same name, other namespace) heard nothing');
    assert.deepEqual(pathsOf(a.latest('shop/api')!, 'guard'), ['/admin']);
  });

  it('an update of the policy reaches the same watchers with the new rules', async () => {
    await change(put(policyResource('guard', 'shop', 'api', ['/admin', '/debug'])), [{ ref: 'shop/api', watchers: [a, b], pred: (s) => pathsOf(s, 'guard')?.join() === '/admin,/debug' }]);
  });

  it('a namespace-wide policy reaches every followed service of that namespace, and not the others', async () => {
    const before = a.snapshots('other/api').length;
    await change(put(policyResource('ns-wide', 'shop', undefined, ['/internal'])), [
      { ref: 'shop/api', watchers: [a, b], pred: (s) => names(s).join() === 'guard,ns-wide' },
      { ref: 'shop/web', watchers: [a], pred: (s) => names(s).join() === 'ns-wide' },
    ]);
    await sleep(100);
    assert.equal(a.snapshots('other/api').length, before, 'other/api heard nothing');
  });

  it('moving the selector takes the policy from the old service to the new one', async () => {
    await change(put(policyResource('guard', 'shop', 'web', ['/admin'])), [
      { ref: 'shop/api', watchers: [a, b], pred: (s) => names(s).join() === 'ns-wide' },
      { ref: 'shop/web', watchers: [a], pred: (s) => names(s).join() === 'guard,ns-wide' },
    ]);
  });

  it('deleting policies removes them from every snapshot they were in', async () => {
    await change(del('shop', 'guard'), [{ ref: 'shop/web', watchers: [a], pred: (s) => names(s).join() === 'ns-wide' }]);
    await change(del('shop', 'ns-wide'), [
      { ref: 'shop/api', watchers: [a, b], pred: (s) => s.policies.length === 0 },
      { ref: 'shop/web', watchers: [a], pred: (s) => s.policies.length === 0 },
    ]);
  });

  it('a policy the schema refuses is not applied and pushes nothing', async () => {
    const before = a.snapshots('shop/api').length;
    const res = await call<ErrorResponse['body']>(cp.url, 'PUT', '/v1/resources', policyResource('bad', 'shop', 'api', ['/public/../admin']));
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'HYPHAE_ERR_INVALID_CONFIG');
    assert.match(JSON.stringify(res.body.error.issues), /dot segments/);
    await sleep(100);
    assert.equal(a.snapshots('shop/api').length, before);
  });
});
