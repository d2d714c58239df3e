/**
 * Failover across clusters in the EndpointSet (issue 17): local instances
 * first, then the Service's failover clusters in order, with the zones'
 * spill-over rule; imported instances without a failover list; a route
 * backend pinned to one cluster; a retry leaving the cluster it failed in.
 * Health comes from a real OutlierDetector on a fake clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoundRobinBalancer } from '../../../src/client/concrete/balancers/round-robin.js';
import { EndpointSet } from '../../../src/client/concrete/endpoint-set.js';
import type { PickPolicy } from '../../../src/client/concrete/subset.js';
import type { ClusterPolicy } from '../../../src/client/concrete/tiers.js';
import type { Endpoint } from '../../../src/client/endpoint/endpoint.js';
import type { EndpointInfo } from '../../../src/discovery/resolver.js';
import { OutlierDetector } from '../../../src/resilience/outlier-detector.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { callWith, tally } from './balancers/helpers.js';

const noPool = () => {
  throw new Error('no pool in this test');
};
const call = callWith();

/** An instance at 10.<n>.0.<i>; `cluster` set as on an instance imported from that peer. */
function info(i: number, cluster?: string, labels: Record<string, string> = {}): EndpointInfo {
  const net = cluster === undefined ? 0 : Number(cluster.replace(/\D/g, '') || 9);
  const base = { id: `10.${net}.0.${i}:80`, address: `10.${net}.0.${i}`, port: 80, labels, weight: 1 };
  return cluster === undefined ? base : { ...base, cluster };
}

function policy(clusters: Partial<ClusterPolicy>, zone?: string): PickPolicy {
  return {
    newBalancer: () => new RoundRobinBalancer(),
    locality: zone === undefined ? undefined : { zoneLabel: 'zone', callerZone: zone, minHealthyPercent: 70 },
    clusters: { localCluster: undefined, failover: undefined, minHealthyPercent: 70, ...clusters },
  };
}

function set(p: PickPolicy, infos: EndpointInfo[]): EndpointSet {
  const s = new EndpointSet(noPool);
  s.configure({ policy: p });
  s.reset(infos);
  return s;
}

/** Which cluster answered each of `n` picks ('local' for an endpoint without one). */
function clusters(view: { pick(c: typeof call, failed?: readonly Endpoint[]): Endpoint | undefined }, n: number, failed?: Endpoint[]): Map<string, number> {
  return tally(
    Array.from({ length: n }, () => {
      const ep = view.pick(call, failed);
      return ep === undefined ? 'none' : (ep.info.cluster ?? 'local');
    }),
  );
}

function setHealthy(s: EndpointSet, healthy: (ep: Endpoint) => boolean): void {
  s.updateHealth(healthy);
}

const local3 = [info(1), info(2), info(3)];
const dc2 = [info(1, 'dc2'), info(2, 'dc2')];
const dc3 = [info(1, 'dc3'), info(2, 'dc3')];

describe('failover tiers', () => {
  it('keeps every pick local while the local cluster is healthy, and follows the failover order when it is not', () => {
    const s = set(policy({ failover: ['dc2', 'dc3'] }), [...local3, ...dc2, ...dc3]);
    assert.deepEqual(clusters(s.all, 300), new Map([['local', 300]]));
    setHealthy(s, (ep) => ep.info.cluster !== undefined);
    assert.deepEqual(clusters(s.all, 300), new Map([['dc2', 300]]), 'local gone: the first failover cluster takes it all, dc3 none');
    setHealthy(s, (ep) => ep.info.cluster === 'dc3');
    assert.deepEqual(clusters(s.all, 300), new Map([['dc3', 300]]), 'dc2 gone too: the next one');
    setHealthy(s, () => true);
    assert.deepEqual(clusters(s.all, 300), new Map([['local', 300]]), 'local back: calls go home');
  });

  it('spills in proportion below minHealthyPercent, tier after tier', () => {
    const four = [info(1), info(2), info(3), info(4)];
    const s = set(policy({ failover: ['dc2', 'dc3'] }), [...four, ...dc2, ...dc3]);
    // 2 of 4 local healthy = 50 % < 70 %: 50/70 = 71.4 % stay, the 28.6 % left go to dc2 (healthy: it takes all of it).
    setHealthy(s, (ep) => ep.id !== '10.0.0.1:80' && ep.id !== '10.0.0.2:80');
    assert.deepEqual(
      s.all.tiers.map((t) => +t.share.toFixed(3)),
      [0.714, 0.286, 0],
      'dc3 takes no share, but is there for a retry that fails in dc2',
    );
    const n = 6000;
    const got = clusters(s.all, n);
    console.log(`local 50 % healthy: ${JSON.stringify(Object.fromEntries(got))} of ${n} picks (expected 71.4 % local, 28.6 % dc2)`);
    assert.ok(Math.abs(got.get('local')! / n - 0.714) < 0.04, String(got.get('local')));
    assert.equal(got.get('dc3'), undefined, 'dc2 covers the whole spill');
    // dc2 half healthy too (50 %: it keeps at most 71.4 % of what reaches it): 28.6 % is below that, so still all in dc2.
    setHealthy(s, (ep) => !['10.0.0.1:80', '10.0.0.2:80', '10.2.0.1:80'].includes(ep.id));
    assert.deepEqual(
      s.all.tiers.map((t) => +t.share.toFixed(3)),
      [0.714, 0.286, 0],
    );
    // 1 of 4 local (25 %: 35.7 %), dc2 at 50 % (71.4 % cap but only 64.3 % reach it), nothing left for dc3.
    setHealthy(s, (ep) => !['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.2.0.1:80'].includes(ep.id));
    assert.deepEqual(
      s.all.tiers.map((t) => +t.share.toFixed(3)),
      [0.357, 0.643, 0],
    );
    // No local healthy, dc2 at 50 %: dc2 keeps 71.4 %, dc3 (the last tier with a healthy endpoint) the rest.
    setHealthy(s, (ep) => ep.info.cluster !== undefined && ep.id !== '10.2.0.1:80');
    assert.deepEqual(
      s.all.tiers.map((t) => [t.endpoints[0]!.info.cluster, +t.share.toFixed(3)]),
      [
        ['dc2', 0.714],
        ['dc3', 0.286],
      ],
    );
    assert.equal(s.all.localShare, 0);
  });

  it('moves back as outlier ejections end (fake clock), share by share', () => {
    const clock = new FakeClock();
    const s = new EndpointSet(noPool);
    s.configure({ policy: policy({ failover: ['dc2'] }) });
    s.reset([...local3, ...dc2]);
    const detector = new OutlierDetector(
      { consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectionMs: 10_000, maxEjectionPercent: 100, panicThreshold: 0, trialTimeoutMs: 1000 },
      () => s.size,
      clock,
    );
    for (const ep of s.list) ep.health = detector.track(ep.id);
    const sync = () => s.updateHealth((ep) => ep.health!.state !== 'ejected');
    // The three local endpoints fail at 0, 400 and 800 ms: each is out for 1000 ms.
    for (const [i, at] of [0, 400, 800].entries()) {
      clock.advance(at - (clock.now() - 1_000));
      s.list[i]!.health!.report('failure');
      sync();
    }
    assert.equal(s.all.localShare, 0);
    assert.deepEqual(clusters(s.all, 100), new Map([['dc2', 100]]));
    clock.advance(1_000 - 800 + 1); // the first is back (on probation): 1 of 3 local = 33 % -> 47.6 %
    sync();
    assert.ok(Math.abs(s.all.localShare - 0.476) < 0.001, String(s.all.localShare));
    clock.advance(400); // two of three: 66.7 % -> 95.2 %
    sync();
    assert.ok(Math.abs(s.all.localShare - 0.952) < 0.001, String(s.all.localShare));
    clock.advance(400); // all three
    sync();
    assert.equal(s.all.localShare, 1);
    assert.deepEqual(clusters(s.all, 100), new Map([['local', 100]]));
  });

  it('without a failover list, uses imported instances only while no local instance is registered', () => {
    const s = set(policy({}), [...local3, ...dc2]);
    assert.deepEqual(clusters(s.all, 100), new Map([['local', 100]]));
    setHealthy(s, (ep) => ep.info.cluster !== undefined);
    assert.deepEqual([...clusters(s.all, 100).keys()], ['local'], 'every local instance unhealthy but registered: still local (tried rather than fail), never a peer');
    s.reset(dc2);
    assert.deepEqual(clusters(s.all, 100), new Map([['dc2', 100]]), 'a service that lives only in a peer stays callable');
    s.reset([info(1), ...dc2]);
    assert.deepEqual(clusters(s.all, 100), new Map([['local', 100]]), 'a local instance registers: home again');
  });

  it('never uses a cluster the list leaves out, and passes over a listed cluster that has no instance', () => {
    const s = set(policy({ failover: ['dc9', 'dc3'] }), [...local3, ...dc2, ...dc3]);
    setHealthy(s, (ep) => ep.info.cluster !== undefined);
    assert.deepEqual(clusters(s.all, 200), new Map([['dc3', 200]]), 'dc9 is unknown (no instance): its share goes on to dc3; dc2 is not listed');
    setHealthy(s, (ep) => ep.info.cluster === 'dc2');
    assert.deepEqual([...clusters(s.all, 200).keys()].sort(), ['dc3', 'local'], 'nothing eligible is healthy: the eligible members are tried, never dc2');
    const none = set(policy({ failover: [] }), dc2);
    assert.equal(none.all.pick(call), undefined, 'an empty list: peers are never used, even with no local instance');
  });

  it('puts zones inside the local cluster: caller zone, other local zones, then failover clusters', () => {
    const zoned = [info(1, undefined, { zone: 'a' }), info(2, undefined, { zone: 'a' }), info(3, undefined, { zone: 'b' })];
    const peerSameZone = info(1, 'dc2', { zone: 'a' });
    const s = set(policy({ failover: ['dc2'] }, 'a'), [...zoned, peerSameZone]);
    assert.deepEqual(
      s.all.tiers.map((t) => [t.level, t.share]),
      [
        [0, 1],
        [1, 0],
        [2, 0],
      ],
      'a peer instance labelled with the caller zone is not in the caller zone tier',
    );
    setHealthy(s, (ep) => !ep.id.startsWith('10.0.0.1') && !ep.id.startsWith('10.0.0.2'));
    assert.deepEqual(clusters(s.all, 100), new Map([['local', 100]]), 'zone a gone: zone b (local) before dc2');
    setHealthy(s, (ep) => ep.id === '10.2.0.1:80');
    assert.deepEqual(clusters(s.all, 100), new Map([['dc2', 100]]));
  });

  it('counts instances tagged with the caller cluster as local', () => {
    const s = set(policy({ localCluster: 'dc1', failover: ['dc1', 'dc2'] }), [info(1, 'dc1'), info(2), ...dc2]);
    assert.deepEqual(
      s.all.tiers.map((t) => t.endpoints.length),
      [2, 2],
      'the listed local name is the local tier, not a second one',
    );
    assert.equal(s.all.localShare, 1);
  });

  it('sends a retry to the next cluster after the one the call failed in', () => {
    const s = set(policy({ failover: ['dc2', 'dc3'] }), [...local3, ...dc2, ...dc3]);
    const failedLocal = [s.get('10.0.0.1:80')!];
    assert.deepEqual(clusters(s.all, 50, failedLocal), new Map([['dc2', 50]]));
    const failedBoth = [s.get('10.0.0.1:80')!, s.get('10.2.0.1:80')!];
    assert.deepEqual(clusters(s.all, 50, failedBoth), new Map([['dc3', 50]]));
    const lastTier = [s.get('10.3.0.1:80')!];
    assert.deepEqual(clusters(s.all, 50, lastTier), new Map([['local', 50]]), 'no later cluster: the normal choice');
    // The failure that made the call retry ejected its endpoint meanwhile: the retry still leaves home
    // (the other local endpoints are as dead, but not ejected yet).
    setHealthy(s, (ep) => ep.id !== '10.0.0.1:80');
    assert.deepEqual(clusters(s.all, 50, failedLocal), new Map([['dc2', 50]]), 'an ejected endpoint is still of its cluster');
    setHealthy(s, () => true);
    const alone = set(policy({}), local3);
    assert.deepEqual(clusters(alone.all, 50, failedLocal), new Map([['local', 50]]), 'no failover: retries stay home');
  });
});

describe('a route backend pinned to a cluster', () => {
  const all = [...local3, ...dc2, ...dc3, info(4, 'dc2', { version: 'v2' }), info(5, undefined, { version: 'v2' })];

  it('selects that cluster only, its own name the local instances, and combines with a subset', () => {
    const s = set(policy({ localCluster: 'dc1', failover: ['dc2'] }), all);
    s.configure({ subsets: new Map([['v2', { version: 'v2' }]]) });
    assert.deepEqual(clusters(s.view(undefined, 'dc3'), 100), new Map([['dc3', 100]]), 'dc3 is not in the failover list, but the route names it');
    assert.deepEqual(clusters(s.view(undefined, 'dc1'), 100), new Map([['local', 100]]));
    assert.deepEqual(
      s.view('v2', 'dc2').members.map((e) => e.id),
      ['10.2.0.4:80'],
    );
    assert.equal(s.view(undefined, 'dc2'), s.view(undefined, 'dc2'), 'a stable view');
    assert.equal(s.view(undefined, undefined), s.all);
    // Pinned means pinned: dc2 unhealthy is not a reason to leave it.
    setHealthy(s, (ep) => ep.info.cluster !== 'dc2');
    assert.deepEqual(clusters(s.view(undefined, 'dc2'), 50), new Map([['dc2', 50]]));
    assert.equal(s.view(undefined, 'dc7').pick(call), undefined, 'a cluster with no instance: no endpoint');
  });

  it('cannot name the local cluster before the caller knows its name', () => {
    const s = set(policy({ localCluster: undefined }), all);
    assert.equal(s.view(undefined, 'dc1').pick(call), undefined);
    s.configure({ policy: policy({ localCluster: 'dc1' }) });
    assert.deepEqual(clusters(s.view(undefined, 'dc1'), 20), new Map([['local', 20]]), 'learnt: the same view now holds the local ones');
  });
});
