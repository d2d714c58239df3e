/**
 * Issue 17: the link between the control planes cut for 30 s (a blackhole route in dc1 for dc2's
 * control-plane address alone; the data path between the clusters stays up). Both clusters keep serving,
 * dc1 keeps calling dc2's instances it last knew (fail-static), and a new instance dc2 exports meanwhile
 * reaches dc1 once the link is back. Flat model: dc1 has no api of its own, so its calls all go to dc2.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from '../helpers/control-plane.js';
import { blackhole, clusterNetworkUnsupported } from '../helpers/netns.js';
import { waitUntil } from '../helpers/services.js';
import { applyFailover } from './multi-cluster-failover.js';
import { byCluster, importedBy, peer, startApiIn, startCallerIn, startClusters, startStream, type Clusters, type RunningApi } from './multi-cluster-helpers.js';

const unsupported = await clusterNetworkUnsupported();
/** How long the link stays cut: the scenario's own length, not a wait for an event. */
const CUT_MS = 30_000;

interface Row {
  peer: string;
  state: string;
  ageSeconds?: number;
}

describe('multi-cluster: the link between the control planes cut for 30 s', { skip: unsupported, timeout: 600_000 }, () => {
  let cs: Clusters;
  let first: RunningApi;
  let web1: string;
  let web2: string;
  const peering = async (): Promise<Row> => {
    const res = await call<{ peerings: Row[] }>(cs.dc1.cp.url, 'GET', '/v1/peerings');
    assert.equal(res.status, 200, res.text);
    return res.body.peerings[0]!;
  };

  before(async () => {
    // dc2 sends its heartbeat every second: dc1 notices a silent link after three of them.
    cs = await startClusters(3, 1_000);
    await applyFailover(cs);
    first = await startApiIn(cs.dc2, cs.dc2.ns.peerLinkAddress);
    await peer(cs, 'api', 1);
    [web1, web2] = await Promise.all([startCallerIn(cs.dc1, 'web'), startCallerIn(cs.dc2, 'web')]);
  });
  after(async () => {
    await cs?.close();
  });

  it('both clusters keep serving, dc1 on what it last knew; a change in dc2 meanwhile reaches dc1 when the link is back', async () => {
    await blackhole(cs.dc1.ns, cs.dc2.ns.controlPlaneAddress, true);
    let cut = true;
    try {
      const t0 = performance.now();
      const [fromDc1, fromDc2] = [startStream(web1, 1, 20_000, CUT_MS), startStream(web2, 1, 20_000, CUT_MS)];
      await waitUntil(async () => (await peering()).state !== 'connected', 20_000);
      const noticedMs = performance.now() - t0;
      // A change in dc2 while the link is down: a new exported instance.
      const second = await startApiIn(cs.dc2, cs.dc2.ns.peerLinkAddress);
      await waitUntil(() => fromDc2.answers.some((a) => a.instance === second.id), 20_000);
      // The streams end at their time ceiling: the cut lasts CUT_MS.
      const [during1, during2] = await Promise.all([fromDc1.ended, fromDc2.ended]);
      const row = await peering();
      console.log(
        `[partition] dc1 saw the link down ${noticedMs.toFixed(0)} ms after the cut; ${row.state}, imports ${row.ageSeconds} s old at the end; ` +
          `calls in ${((performance.now() - t0) / 1000).toFixed(1)} s of cut: from dc1 ${JSON.stringify(byCluster(during1))}, from dc2 ${JSON.stringify(byCluster(during2))}`,
      );
      assert.notEqual(row.state, 'connected');
      assert.ok((row.ageSeconds ?? 0) >= 1, `the imports' age shows the link is down: ${JSON.stringify(row)}`);
      for (const [name, answers] of [
        ['dc1', during1],
        ['dc2', during2],
      ] as const) {
        assert.ok(answers.length > 0, `${name} called`);
        assert.deepEqual(
          answers.filter((a) => a.status !== 200),
          [],
          `every call from ${name} succeeded during the cut`,
        );
      }
      assert.ok(
        during1.every((a) => a.instance === first.id),
        'dc1 called only the instance it knew before the cut',
      );
      assert.ok(
        during2.some((a) => a.instance === second.id),
        "dc2's own callers found its new instance",
      );

      await blackhole(cs.dc1.ns, cs.dc2.ns.controlPlaneAddress, false);
      cut = false;
      const tBack = performance.now();
      const imported = await importedBy(cs.dc1, 'api', (i) => i.length === 2, 60_000);
      const caughtUpMs = performance.now() - tBack;
      assert.deepEqual(imported.map((i) => `${i.address}:${i.port}`).sort(), [first.id, second.id].sort());
      // dc1's web reaches the new instance.
      const after = startStream(web1, 1, 5_000, 60_000);
      await waitUntil(() => after.answers.some((a) => a.instance === second.id), 30_000);
      const answers = await after.stop();
      console.log(`[partition] link back: dc1 imported the new instance ${caughtUpMs.toFixed(0)} ms later; then ${JSON.stringify(byCluster(answers))}`);
      assert.deepEqual(
        answers.filter((a) => a.status !== 200),
        [],
      );
      assert.equal((await peering()).state, 'connected');
    } finally {
      if (cut) await blackhole(cs.dc1.ns, cs.dc2.ns.controlPlaneAddress, false).catch(() => undefined);
    }
  });
});
