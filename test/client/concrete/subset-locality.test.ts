/** Subset views and locality in the EndpointSet: rebuilt on change, never per request. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoundRobinBalancer } from '../../../src/client/concrete/balancers/round-robin.js';
import { EndpointSet } from '../../../src/client/concrete/endpoint-set.js';
import type { EndpointInfo } from '../../../src/discovery/resolver.js';
import type { PickPolicy } from '../../../src/client/concrete/subset.js';
import { callWith, tally } from './balancers/helpers.js';

const noPool = () => {
  throw new Error('no pool in this test');
};

function info(i: number, labels: Record<string, string>): EndpointInfo {
  return { id: `10.0.0.${i}:80`, address: `10.0.0.${i}`, port: 80, labels, weight: 1 };
}

const rr: PickPolicy = { newBalancer: () => new RoundRobinBalancer(), locality: undefined };
const zoneA = (minHealthyPercent = 70): PickPolicy => ({ ...rr, locality: { zoneLabel: 'zone', callerZone: 'zone-a', minHealthyPercent } });
const call = callWith();

function picks(set: EndpointSet, subset: string | undefined, n: number): Map<string, number> {
  const view = subset === undefined ? set.all : set.subset(subset);
  return tally(Array.from({ length: n }, () => view.pick(call)?.id ?? 'none'));
}

/** One endpoint's health, as outlier detection sets it (updateHealth: every endpoint at once). */
function setHealthy(set: EndpointSet, id: string, healthy: boolean): void {
  set.updateHealth((ep) => (ep.id === id ? healthy : ep.healthy));
}

describe('EndpointSet subsets', () => {
  it('keeps one stable view per subset, updated when endpoints or definitions change', () => {
    const set = new EndpointSet(noPool);
    set.configure({
      policy: rr,
      subsets: new Map([
        ['v1', { version: 'v1' }],
        ['v2', { version: 'v2' }],
      ]),
    });
    const v2 = set.subset('v2');
    assert.equal(v2.members.length, 0);
    set.reset([info(1, { version: 'v1' }), info(2, { version: 'v2' }), info(3, { version: 'v2', zone: 'a' })]);
    assert.equal(set.subset('v2'), v2, 'the same object: compiled routes hold on to it');
    assert.deepEqual(
      v2.members.map((e) => e.id),
      ['10.0.0.2:80', '10.0.0.3:80'],
    );
    assert.deepEqual(
      set.subset('v1').members.map((e) => e.id),
      ['10.0.0.1:80'],
    );
    set.reset([info(1, { version: 'v1' }), info(3, { version: 'v2', zone: 'a' })]);
    assert.deepEqual(
      v2.members.map((e) => e.id),
      ['10.0.0.3:80'],
    );
    set.configure({ subsets: new Map([['v2', { version: 'v2', zone: 'b' }]]) });
    assert.deepEqual(v2.members, [], 'a narrower selector');
    assert.equal(set.subset('v1').defined, false, 'v1 is no longer defined');
    assert.equal(set.subset('v1').pick(call), undefined);
  });

  it('picks only within the subset', () => {
    const set = new EndpointSet(noPool);
    set.configure({ policy: rr, subsets: new Map([['v2', { version: 'v2' }]]) });
    set.reset([info(1, { version: 'v1' }), info(2, { version: 'v2' }), info(3, { version: 'v2' })]);
    assert.deepEqual([...picks(set, 'v2', 100).keys()].sort(), ['10.0.0.2:80', '10.0.0.3:80']);
  });

  it('leaves an unhealthy endpoint out of picks while others are healthy (the outlier detection hook)', () => {
    const set = new EndpointSet(noPool);
    set.configure({ policy: rr });
    set.reset([info(1, {}), info(2, {})]);
    setHealthy(set, '10.0.0.1:80', false);
    assert.deepEqual([...picks(set, undefined, 20).keys()], ['10.0.0.2:80']);
    setHealthy(set, '10.0.0.2:80', false);
    assert.equal(picks(set, undefined, 20).size, 2, 'nothing healthy: every member rather than none');
    setHealthy(set, '10.0.0.1:80', true);
    assert.deepEqual([...picks(set, undefined, 20).keys()], ['10.0.0.1:80']);
  });
});

describe('EndpointSet locality', () => {
  const zones = [info(1, { zone: 'zone-a' }), info(2, { zone: 'zone-a' }), info(3, { zone: 'zone-a' }), info(4, { zone: 'zone-b' }), info(5, { zone: 'zone-b' })];

  it('sends everything to the caller zone while it is healthy enough', () => {
    const set = new EndpointSet(noPool);
    set.configure({ policy: zoneA() });
    set.reset(zones);
    assert.equal(set.all.localShare, 1);
    assert.deepEqual([...picks(set, undefined, 300).keys()].sort(), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
  });

  it('spills in proportion below minHealthyPercent (Envoy), all of it when the zone is gone, and comes back', () => {
    const set = new EndpointSet(noPool);
    set.configure({ policy: zoneA(70) });
    set.reset(zones);
    // 2 of 3 healthy = 66.7 % < 70 %: 66.7/70 = 95 % stays local.
    setHealthy(set, '10.0.0.1:80', false);
    assert.ok(Math.abs(set.all.localShare - 0.952) < 0.001, String(set.all.localShare));
    // 1 of 3 = 33 %: 47.6 % local.
    setHealthy(set, '10.0.0.2:80', false);
    assert.ok(Math.abs(set.all.localShare - 0.476) < 0.001);
    const n = 4000;
    const local = picks(set, undefined, n).get('10.0.0.3:80')! / n;
    console.log(`1 of 3 local endpoints healthy: ${(local * 100).toFixed(1)} % of picks stay local (expected 47.6 %)`);
    assert.ok(Math.abs(local - 0.476) < 0.04);
    // Every zone-a endpoint gone from discovery: everything to zone-b.
    set.reset(zones.slice(3));
    assert.equal(set.all.localShare, 0);
    assert.deepEqual([...picks(set, undefined, 100).keys()].sort(), ['10.0.0.4:80', '10.0.0.5:80']);
    // Back.
    set.reset(zones);
    assert.equal(set.all.localShare, 1);
    assert.deepEqual([...picks(set, undefined, 100).keys()].sort(), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
  });

  it('applies within subsets too, and ignores zones when the caller has none', () => {
    const set = new EndpointSet(noPool);
    set.configure({ policy: zoneA(), subsets: new Map([['b-only', { zone: 'zone-b' }]]) });
    set.reset(zones);
    assert.deepEqual([...picks(set, 'b-only', 100).keys()].sort(), ['10.0.0.4:80', '10.0.0.5:80'], 'no local member: the subset spills entirely');
    set.configure({ policy: rr });
    assert.equal(picks(set, undefined, 500).size, 5);
  });
});
