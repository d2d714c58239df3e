/**
 * The network separation that issue 17's multi-cluster tests stand on (test/helpers/netns.ts): two
 * clusters in their own network namespaces, made by the test. A process of dc2 bound to 127.0.0.1 is
 * reachable from nowhere else; one bound to every address is reachable from dc1 only over the link between
 * the clusters; dc1 has no way into dc2's link to the test's namespace. Real processes, real sockets.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { blackhole, clusterNetworkUnsupported, createClusterNetwork, probeFrom, type ClusterNetwork } from '../helpers/netns.js';
import { startCommand, type Child } from '../helpers/process.js';

const unsupported = await clusterNetworkUnsupported();

const SERVER = `const s = require('node:net').createServer((c) => c.end('hello from ' + process.argv[2])); s.listen(0, process.argv[1], () => console.log('listening ' + s.address().port));`;
describe('clusters on separate networks (ip netns, veth pairs)', { skip: unsupported }, () => {
  let net: ClusterNetwork;
  const children: Child[] = [];

  before(async () => {
    net = await createClusterNetwork(['dc1', 'dc2']);
  });
  after(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    await net?.close();
  });

  const serve = async (launcher: readonly string[], host: string, name: string): Promise<number> => {
    const child = startCommand(launcher[0]!, [...launcher.slice(1), process.execPath, '-e', SERVER, host, name]);
    children.push(child);
    return Number((await child.waitFor(/listening (\d+)/))[1]);
  };
  const fromTest = (host: string, port: number) =>
    new Promise<string>((resolve) => {
      let got = '';
      const c = connect({ host, port });
      c.on('data', (d) => (got += String(d)));
      c.on('end', () => resolve(`ok ${got}`));
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });

  it("dc1 reaches dc2's open port over the clusters' link only, and the loopback-only one not at all", async () => {
    const [dc1, dc2] = net.clusters;
    const open = await serve(dc2.launcher, '0.0.0.0', 'dc2-open');
    const local = await serve(dc2.launcher, '127.0.0.1', 'dc2-local');
    const seen = await probeFrom(dc1.launcher, [`${dc2.peerLinkAddress} ${open}`, `${dc2.peerLinkAddress} ${local}`, `127.0.0.1 ${local}`, `${dc2.address} ${open}`]);
    assert.equal(seen.get(`${dc2.peerLinkAddress} ${open}`), 'ok hello from dc2-open');
    assert.equal(seen.get(`${dc2.peerLinkAddress} ${local}`), 'ECONNREFUSED', "dc2's loopback-only port is closed to dc1");
    assert.equal(seen.get(`127.0.0.1 ${local}`), 'ECONNREFUSED', "dc1's own loopback is not dc2's");
    assert.equal(seen.get(`${dc2.address} ${open}`), 'ENETUNREACH', "dc1 has no route to dc2's link with the test");
    // The test itself reaches dc2 on its own link, and not dc2's loopback.
    assert.equal(await fromTest(dc2.address, open), 'ok hello from dc2-open');
    assert.equal(await fromTest(dc2.address, local), 'ECONNREFUSED');
  });

  it("a blackhole route in dc1 for dc2's control-plane address cuts that address alone", async () => {
    const [dc1, dc2] = net.clusters;
    const open = await serve(dc2.launcher, '0.0.0.0', 'dc2-open');
    const targets = [`${dc2.controlPlaneAddress} ${open}`, `${dc2.peerLinkAddress} ${open}`];
    assert.deepEqual([...(await probeFrom(dc1.launcher, targets)).values()], ['ok hello from dc2-open', 'ok hello from dc2-open']);
    await blackhole(dc1, dc2.controlPlaneAddress, true);
    const cut = await probeFrom(dc1.launcher, targets);
    await blackhole(dc1, dc2.controlPlaneAddress, false);
    assert.notEqual(cut.get(targets[0]!), 'ok hello from dc2-open', `cut: ${cut.get(targets[0]!)}`);
    assert.equal(cut.get(targets[1]!), 'ok hello from dc2-open', 'the data path stays up');
    assert.equal((await probeFrom(dc1.launcher, targets)).get(targets[0]!), 'ok hello from dc2-open', 'and the route removed, the address is back');
  });

  it('close() removes the namespaces and links it made', async () => {
    const extra = await createClusterNetwork(['x1', 'x2']);
    const names = extra.clusters.map((c) => c.netns);
    await extra.close();
    const { execFileSync } = await import('node:child_process');
    const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const n of names) assert.ok(!list.split('\n').some((l) => l.startsWith(`${n} `) || l === n), `${n} is gone`);
  });
});
