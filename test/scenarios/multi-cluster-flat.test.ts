/**
 * Issue 17, flat network model with real network separation: dc2's api instances bind their address on
 * the link between the clusters, and dc2 exports them as they are; dc1 peers with dc2 (no gateway) and its
 * web calls them directly over mTLS when every dc1 instance is killed under a stream of calls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clusterNetworkUnsupported, probeFrom } from '../helpers/netns.js';
import { applyFailover, killHomeUnderLoad } from './multi-cluster-failover.js';
import { peer, startApiIn, startCallerIn, startClusters, type Clusters, type RunningApi } from './multi-cluster-helpers.js';

const unsupported = await clusterNetworkUnsupported();

describe('multi-cluster, flat model: failover to dc2 instances reached directly', { skip: unsupported, timeout: 600_000 }, () => {
  let cs: Clusters;
  let home: RunningApi[];
  let remote: RunningApi[];
  let web: string;

  before(async () => {
    cs = await startClusters();
    await applyFailover(cs);
    [home, remote] = await Promise.all([
      Promise.all([startApiIn(cs.dc1), startApiIn(cs.dc1)]),
      Promise.all([startApiIn(cs.dc2, cs.dc2.ns.peerLinkAddress), startApiIn(cs.dc2, cs.dc2.ns.peerLinkAddress)]),
    ]);
    const imported = await peer(cs, 'api', 2);
    assert.deepEqual(imported.map((i) => `${i.address}:${i.port}`).sort(), remote.map((a) => a.id).sort(), "dc1 is given dc2's instances' own addresses");
    web = await startCallerIn(cs.dc1, 'web');
  });
  after(async () => {
    await cs?.close();
  });

  it("dc2's api instances are reachable from dc1 on the link between the clusters", async () => {
    const targets = remote.map((a) => a.id.replace(':', ' '));
    const seen = await probeFrom(cs.dc1.ns.launcher, targets, true);
    for (const t of targets) assert.equal(seen.get(t), 'connected', `${t} from dc1`);
  });

  it('kill every dc1 api instance under a stream of calls: 0 failed, traffic in dc2, then home again', async () => {
    await killHomeUnderLoad(cs, web, home, 'flat');
  });
});
