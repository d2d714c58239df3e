/**
 * Issue 3, must-show 4: certificates rotate under load without anyone
 * noticing. Leaf TTL 15 s (renewal about every 7.5 s), a steady request
 * stream, at least 3 rotations on both sides: 100 % success. The server
 * closes a connection now and then, so new handshakes happen throughout with
 * the rotated certificates. Then a root rotation with overlap (hyphae ca
 * rotate, every workload re-issued from the new root, hyphae ca retire): 0
 * failed requests, and the workloads still reach the control plane, whose
 * own certificate moved to the new root.
 *
 * The TTL leaves a renewal about 7 s to complete (a new RSA key, a CSR, the
 * CA's signature): under the CPU-hog script on a busy 2-core machine that
 * took up to 4 s (at TTL 8 s certificates expired before their successors
 * came), and a shorter TTL then tests the machine's speed, not the rotation.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { frontStats } from '../../src/server/mtls-front.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { run } from '../helpers/pki.js';
import { cliPath } from '../helpers/process.js';
import { waitUntil } from '../helpers/services.js';
import { steadyTraffic } from '../helpers/traffic.js';

let cp: RunningControlPlane;
let api: Mesh;
let client: Mesh;
let server: http.Server;
let served = 0;

before(async () => {
  cp = await startControlPlane({ certTtl: '15s' });
  api = await createMesh(await cp.meshOptions('api'));
  server = api.wrapServer(
    http.createServer((_req, res) => {
      // Every 20th response closes its connection: the next call handshakes with whatever certificates are current.
      if (++served % 20 === 0) res.setHeader('connection', 'close');
      res.end('ok');
    }),
  );
  server.listen(0, '127.0.0.1');
  await api.registered(server);
  client = await createMesh(await cp.meshOptions('client'));
});

after(async () => {
  await client?.close();
  await api?.close();
  await cp?.stop();
});

const cli = (...args: string[]) => run(process.execPath, [cliPath, ...args, ...cp.cliFlags]);

it('TTL 15 s under a steady request stream: >= 3 rotations on each side, 100 % success', { timeout: 240_000 }, async () => {
  const r0 = { api: api.identity()!.rotations, client: client.identity()!.rotations };
  const hs0 = frontStats(server)!.accepted;
  const traffic = steadyTraffic(client, 'http://api/');
  const t0 = performance.now();
  await waitUntil(() => api.identity()!.rotations - r0.api >= 3 && client.identity()!.rotations - r0.client >= 3, 180_000, 100);
  await traffic.stop();
  const seconds = (performance.now() - t0) / 1000;
  const rotations = { api: api.identity()!.rotations - r0.api, client: client.identity()!.rotations - r0.client };
  const handshakes = frontStats(server)!.accepted - hs0;
  console.log(
    `${seconds.toFixed(1)} s: ${traffic.ok} requests ok, ${traffic.failed} failed; rotations api ${rotations.api}, client ${rotations.client}; ` +
      `${handshakes} mTLS handshakes at api (new connections during rotation)`,
  );
  assert.equal(traffic.failed, 0, traffic.errors.slice(0, 5).join('\n'));
  // A stream throughout (4 callers back to back: hundreds of requests even when a busy machine slows each one).
  assert.ok(traffic.ok > 200, `${traffic.ok} requests`);
  assert.ok(handshakes >= 10, `${handshakes} handshakes: connections were renewed with rotated certificates`);
});

it('root rotation with overlap (rotate, re-issue, retire) under traffic: 0 failed requests', { timeout: 300_000 }, async () => {
  const traffic = steadyTraffic(client, 'http://api/');
  const rotate = await cli('ca', 'rotate');
  assert.equal(rotate.code, 0, rotate.stderr);
  assert.match(rotate.stdout, /bundle v2, 2 root/);
  const rotatedAt = { api: api.identity()!.rotations, client: client.identity()!.rotations };
  // Every workload hears of the new root, then is re-issued from it (two renewals to be sure).
  await waitUntil(() => api.identity()!.trustBundleVersion === 2 && client.identity()!.trustBundleVersion === 2, 30_000, 20);
  await waitUntil(() => api.identity()!.rotations - rotatedAt.api >= 2 && client.identity()!.rotations - rotatedAt.client >= 2, 120_000, 50);
  // retire refuses while a leaf of the old root may still be valid; it says so, and succeeds once that has passed.
  let retire = await cli('ca', 'retire');
  let refusals = 0;
  while (retire.code !== 0) {
    assert.match(retire.stderr, /HYPHAE_ERR_CONFLICT: certificates signed by the old root may be valid until/);
    refusals++;
    await new Promise((r) => setTimeout(r, 500));
    retire = await cli('ca', 'retire');
  }
  assert.match(retire.stdout, /bundle v3, 1 root/);
  await waitUntil(() => api.identity()!.trustBundleVersion === 3 && client.identity()!.trustBundleVersion === 3, 30_000, 20);
  // Renewals after the retirement reach the control plane, whose certificate now comes from the new root.
  const retiredAt = { api: api.identity()!.rotations, client: client.identity()!.rotations };
  await waitUntil(() => api.identity()!.rotations - retiredAt.api >= 2 && client.identity()!.rotations - retiredAt.client >= 2, 120_000, 50);
  await traffic.stop();
  const show = await cli('ca', 'show');
  console.log(
    `root rotation: ${traffic.ok} requests ok, ${traffic.failed} failed; retire refused ${refusals} time(s) until the old leaves expired\n${show.stdout.trimEnd()}`,
  );
  assert.equal(traffic.failed, 0, traffic.errors.slice(0, 5).join('\n'));
  assert.match(show.stdout, /1 root\(s\)/);
});
