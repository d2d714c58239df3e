/**
 * Issue 17, gateway network model with real network separation: dc2's api instances bind 127.0.0.1 in
 * dc2's namespace, only its mesh gateway (on the link between the clusters) is reachable from dc1. dc2
 * exports api and makes a peering token naming its gateway; dc1 peers with it. dc1's web calls api with
 * `failover: [{cluster: dc2}]`; every dc1 api instance is killed under a stream of calls, then restarted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clusterNetworkUnsupported, probeFrom } from '../helpers/netns.js';
import { applyFailover, killHomeUnderLoad } from './multi-cluster-failover.js';
import { callVia, peer, startApiIn, startCallerIn, startClusters, startMeshGatewayIn, type Clusters, type RunningApi } from './multi-cluster-helpers.js';

const unsupported = await clusterNetworkUnsupported();

describe('multi-cluster, gateway model: failover to dc2 through its mesh gateway', { skip: unsupported, timeout: 600_000 }, () => {
  let cs: Clusters;
  let home: RunningApi[];
  let remote: RunningApi[];
  let gatewayPort: number;
  let web: string;

  before(async () => {
    cs = await startClusters();
    await applyFailover(cs);
    [home, remote, gatewayPort] = await Promise.all([Promise.all([startApiIn(cs.dc1), startApiIn(cs.dc1)]), Promise.all([startApiIn(cs.dc2), startApiIn(cs.dc2)]), startMeshGatewayIn(cs.dc2)]);
    const imported = await peer(cs, 'api', 1, 'default/mesh-gateway');
    assert.deepEqual(
      imported.map((i) => `${i.address}:${i.port}`),
      [`${cs.dc2.ns.peerLinkAddress}:${gatewayPort}`],
      "dc1 is given dc2's gateway for api, not its instances",
    );
    web = await startCallerIn(cs.dc1, 'web');
  });
  after(async () => {
    await cs?.close();
  });

  it("dc2's api instances are out of dc1's reach; its gateway is not", async () => {
    const targets = remote.flatMap((a) => {
      const port = a.id.split(':').at(-1)!;
      return [`127.0.0.1 ${port}`, `${cs.dc2.ns.peerLinkAddress} ${port}`];
    });
    const seen = await probeFrom(cs.dc1.ns.launcher, [...targets, `${cs.dc2.ns.peerLinkAddress} ${gatewayPort}`], true);
    for (const t of targets) assert.equal(seen.get(t), 'ECONNREFUSED', `${t} from dc1`);
    assert.equal(seen.get(`${cs.dc2.ns.peerLinkAddress} ${gatewayPort}`), 'connected');
    assert.ok(
      remote.every((a) => a.id.startsWith('127.0.0.1:')),
      'dc2 registered its instances on loopback',
    );
  });

  it("with home healthy a call of dc1's web stays in dc1, over mTLS as web", async () => {
    const a = await callVia(web);
    assert.equal(a.status, 200, JSON.stringify(a));
    assert.equal(a.cluster, 'dc1');
    assert.match(a.peer ?? '', /\/ns\/default\/sa\/web$/);
  });

  it('kill every dc1 api instance under a stream of calls: 0 failed, traffic in dc2 through the gateway, then home again', async () => {
    await killHomeUnderLoad(cs, web, home, 'gateway');
  });
});
