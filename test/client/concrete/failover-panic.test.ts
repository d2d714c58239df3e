/**
 * Outlier detection's panic under a failover list: a peer reached through its mesh gateway is ONE endpoint
 * standing for the whole cluster, so with every local instance ejected a count of endpoints says "33 %
 * healthy" and used to panic, putting the dead instances back in the local tier: each call's first attempt
 * failed on one of them and only a retry (while the budget lasted) reached the peer (the multi-cluster
 * gateway scenario's failed calls). A healthy failover cluster carries the traffic: no panic, as in Envoy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoundRobinBalancer } from '../../../src/client/concrete/balancers/round-robin.js';
import { EndpointSet } from '../../../src/client/concrete/endpoint-set.js';
import { OutlierHealth } from '../../../src/client/concrete/outlier-health.js';
import { unheardEvents } from '../../../src/client/events.js';
import type { EndpointInfo } from '../../../src/discovery/resolver.js';
import { callWith, tally } from './balancers/helpers.js';

const noPool = () => {
  throw new Error('no pool in this test');
};
const call = callWith();
const options = { consecutiveFailures: 1, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 100, panicThreshold: 50, trialTimeoutMs: 30_000 };

function info(i: number, cluster?: string): EndpointInfo {
  const base = { id: `10.${cluster === undefined ? 0 : 2}.0.${i}:80`, address: `10.0.0.${i}`, port: 80, labels: {}, weight: 1 };
  return cluster === undefined ? base : { ...base, cluster };
}

/** A destination's endpoints under outlier detection, with `failover` as its Service's list. */
function destination(failover: string[] | undefined, infos: EndpointInfo[]) {
  const set = new EndpointSet(noPool);
  set.configure({ policy: { newBalancer: () => new RoundRobinBalancer(), locality: undefined, clusters: { localCluster: undefined, failover, minHealthyPercent: 70 } } });
  set.reset(infos);
  const health = new OutlierHealth({ name: 'api', namespace: 'default' }, set, unheardEvents());
  health.replace(options);
  const fail = (id: string) => {
    const ep = set.get(id)!;
    health.report(undefined, (ep.health ??= health.track(ep.id)!), 'failure');
  };
  const picks = (n: number) => tally(Array.from({ length: n }, () => set.all.pick(call)?.id ?? 'none'));
  return { set, health, fail, picks };
}

const home = [info(1), info(2)];
const gateway = info(1, 'dc2');

describe('outlier panic and failover tiers', () => {
  it('keeps every local instance ejected while a healthy failover cluster (one gateway endpoint) takes the traffic', () => {
    const d = destination(['dc2'], [...home, gateway]);
    for (const ep of home) d.fail(ep.id);
    assert.equal(d.health.detector!.panicking, false, 'dc2 carries every call: no reason to panic');
    assert.deepEqual(d.picks(100), new Map([[gateway.id, 100]]));
  });

  it('keeps them ejected when new local instances join', () => {
    const d = destination(['dc2'], [...home, gateway]);
    for (const ep of home) d.fail(ep.id);
    d.set.reset([...home, info(3), info(4), gateway]);
    d.health.sync();
    const seen = d.picks(200);
    for (const ep of home) assert.equal(seen.get(ep.id), undefined, `${ep.id} is ejected: ${JSON.stringify([...seen])}`);
    assert.ok(d.set.list.filter((ep) => home.some((h) => h.id === ep.id)).every((ep) => ep.health?.state === 'ejected'));
  });

  it('still panics when nothing else can take the traffic', () => {
    const alone = destination(undefined, home);
    for (const ep of home) alone.fail(ep.id);
    assert.equal(alone.health.detector!.panicking, true, 'no failover: a sick pool beats none');
    const gatewayDown = destination(['dc2'], [...home, gateway]);
    for (const ep of [...home, gateway]) gatewayDown.fail(ep.id);
    assert.equal(gatewayDown.health.detector!.panicking, true, 'the failover cluster is ejected too');
    assert.equal(gatewayDown.picks(10).get('none'), undefined, 'every endpoint is tried rather than none');
  });
});
