/**
 * Issue 3, must-show 4: certificates rotate under load without anyone
 * noticing. A steady request stream, three rotations on both sides: 100 %
 * success, and the connections made after each rotation present the new
 * certificates (the server closes a connection now and then, so new
 * handshakes happen throughout). Then a root rotation with overlap (hyphae
 * ca rotate, every workload re-issued from the new root, hyphae ca retire,
 * refused until the old root's last leaf has expired): 0 failed requests,
 * and the workloads still reach the control plane, whose own certificate
 * moved to the new root.
 *
 * Issue 14: these tests used to wait for renewals at half of 15 s lifetimes,
 * and on a busy machine a certificate expired before its successor came.
 * Now the test causes each rotation (renewCertificate) and waits for what it
 * checks, with ceilings that only catch a stall; certificates live long
 * enough that no scheduling delay expires one first. When the provider
 * renews by itself is proved on a fake clock in
 * test/tls/certificate-provider.test.ts.
 *
 * The two parts run side by side, each with its own control plane: the root
 * rotation spends most of its time waiting out the old root's last leaf.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { frontStats } from '../../src/server/mtls-front.js';
import type { ApiErrorBody } from '../../src/config/wire.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { run } from '../helpers/pki.js';
import { cliPath } from '../helpers/process.js';
import { waitUntil } from '../helpers/services.js';
import { startTcpBalancer } from '../helpers/tcp-balancer.js';
import { steadyTraffic } from '../helpers/traffic.js';

/** A control plane, an `api` server and a `client`; the server notes the certificates each new connection shows. */
class Pair {
  cp!: RunningControlPlane;
  api!: Mesh;
  client!: Mesh;
  server!: http.Server;
  /** Fingerprints of the client certificates presented to the server, and of the server's own, one per connection. */
  readonly clientCerts = new Set<string>();
  readonly serverCerts = new Set<string>();
  #served = 0;
  #sockets = new WeakSet<TLSSocket>();

  async start(certTtl: string): Promise<void> {
    this.cp = await startControlPlane({ certTtl });
    this.api = await createMesh(await this.cp.meshOptions('api'));
    this.server = this.api.wrapServer(
      http.createServer((req, res) => {
        const socket = req.socket as TLSSocket;
        if (!this.#sockets.has(socket)) {
          this.#sockets.add(socket);
          this.clientCerts.add(socket.getPeerCertificate().fingerprint256);
          const own = socket.getCertificate();
          if (own && 'fingerprint256' in own) this.serverCerts.add(own.fingerprint256);
        }
        // Every 20th response closes its connection: the next call handshakes with whatever certificates are current.
        if (++this.#served % 20 === 0) res.setHeader('connection', 'close');
        res.end('ok');
      }),
    );
    this.server.listen(0, '127.0.0.1');
    await this.api.registered(this.server);
    this.client = await createMesh(await this.cp.meshOptions('client'));
  }

  rotations(): { api: number; client: number } {
    return { api: this.api.identity()!.rotations, client: this.client.identity()!.rotations };
  }

  /** Both sides renew now; resolves when both attempts have ended (a failed one leaves `rotations` unchanged). */
  async renewBoth(): Promise<void> {
    await Promise.all([this.api.renewCertificate(), this.client.renewCertificate()]);
  }

  cli(...args: string[]) {
    return this.cliVia(this.cp.url, ...args);
  }

  /** The CLI with `--control-plane <url>`: another way to the same control plane. */
  cliVia(url: string, ...args: string[]) {
    return run(process.execPath, [cliPath, ...args, ...this.cp.cliFlags.map((f) => (f === this.cp.url ? url : f))]);
  }

  async stop(): Promise<void> {
    await this.client?.close();
    await this.api?.close();
    await this.cp?.stop();
  }
}

// Side by side (see the header): the suite's files are many more than its slots, so a file's length is what counts.
describe('certificate rotation', { concurrency: true }, () => {
  describe('workload certificates', () => {
    const pair = new Pair();
    // An hour: nothing renews by itself during the test, every rotation is one the test asked for.
    before(() => pair.start('1h'));
    after(() => pair.stop());

    it('three rotations on each side under a steady request stream: new connections present the new certificates, 100 % success', { timeout: 240_000 }, async () => {
      const { api, client, server } = pair;
      const r0 = pair.rotations();
      const hs0 = frontStats(server)!.accepted;
      const traffic = steadyTraffic(client, 'http://api/', 4, 5, 220_000);
      const t0 = performance.now();
      try {
        await waitUntil(() => traffic.ok >= 20, 60_000, 20);
        for (let round = 1; round <= 3; round++) {
          await pair.renewBoth();
          const r = pair.rotations();
          assert.ok(r.api - r0.api === round && r.client - r0.client === round, `round ${round}: rotations api ${r.api - r0.api}, client ${r.client - r0.client}`);
          // Calls go on across the rotation, and a connection made after it shows both new certificates.
          const ok = traffic.ok;
          await waitUntil(() => (pair.clientCerts.size > round && pair.serverCerts.size > round && traffic.ok - ok >= 100) || traffic.failed > 0, 60_000, 20).catch(() => {});
          assert.equal(traffic.failed, 0, traffic.errors.slice(0, 5).join('\n'));
          assert.ok(traffic.ok - ok >= 100, `round ${round}: ${traffic.ok - ok} requests after the rotation`);
          assert.equal(pair.clientCerts.size, round + 1, `round ${round}: client certificates seen by the server`);
          assert.equal(pair.serverCerts.size, round + 1, `round ${round}: server certificates presented`);
        }
      } finally {
        await traffic.stop();
      }
      const seconds = (performance.now() - t0) / 1000;
      const rotations = { api: api.identity()!.rotations - r0.api, client: client.identity()!.rotations - r0.client };
      const handshakes = frontStats(server)!.accepted - hs0;
      console.log(
        `${seconds.toFixed(1)} s: ${traffic.ok} requests ok, ${traffic.failed} failed; rotations api ${rotations.api}, client ${rotations.client}; ` +
          `${handshakes} mTLS handshakes at api, ${pair.clientCerts.size} client and ${pair.serverCerts.size} server certificates presented`,
      );
      assert.equal(traffic.failed, 0, traffic.errors.slice(0, 5).join('\n'));
      // A stream throughout (4 callers back to back).
      assert.ok(traffic.ok > 200, `${traffic.ok} requests`);
      assert.ok(handshakes >= 10, `${handshakes} handshakes: connections were renewed with rotated certificates`);
    });
  });

  describe('root rotation', () => {
    const pair = new Pair();
    // The lifetime is how long `ca retire` must wait for the old root's last leaf, and the margin for the steps
    // between that leaf and the first retire. Those steps used to include the start of a `hyphae ca rotate`
    // process (over 30 s seen with the CPU-hog script and other suites beside it, which made this 120 s): now the
    // leaf is issued once that process has started and connects (see below), and what is left is the rotation
    // itself and one API call: 0.7 to 0.9 s measured at a load average of 7 to 11 on 2 cores, the CPU hog
    // included. The workloads also renew by themselves at half of it, 15 s, far more than the 4 s a renewal was
    // seen to take under the CPU hog.
    const ttlMs = 30_000;
    before(() => pair.start(`${ttlMs / 1000}s`));
    after(() => pair.stop());

    it('root rotation with overlap (rotate, re-issue, retire) under traffic: 0 failed requests', { timeout: 420_000 }, async () => {
      const { api, client, server } = pair;
      const traffic = steadyTraffic(client, 'http://api/', 4, 5, 400_000);
      let firstRetireMs: number | undefined;
      let refusals = 0;
      let afterRetire: { handshakes: number; ok: number } | undefined;
      try {
        // A leaf of the old root valid for a full lifetime from now: retire must wait for it. It is issued when the
        // `hyphae ca rotate` process, started and connected, is about to send its request: the CLI reaches the
        // control plane through a relay that holds its first connection until both sides have renewed.
        const leaf: { renewed?: Promise<void>; at?: number } = {};
        const relay = await startTcpBalancer([pair.cp.port], {
          admit: () =>
            (leaf.renewed ??= pair.renewBoth().then(() => {
              leaf.at = performance.now();
            })),
        });
        let cliDone = false;
        const rotating = pair
          .cliVia(`https://127.0.0.1:${relay.port}`, 'ca', 'rotate')
          .finally(() => relay.close())
          .finally(() => (cliDone = true));
        // retire refuses while a leaf of the old root may still be valid, and says until when. Asked through the
        // API (no CLI process to start) as soon as the rotation shows (a workload hears of the new root), not once
        // the CLI has exited, so that only the rotation stands between that leaf and the question: the lifetime is
        // the margin.
        await waitUntil(() => api.identity()!.trustBundleVersion === 2 || cliDone, 60_000, 10);
        const lastOldLeaf = leaf.at;
        assert.ok(lastOldLeaf !== undefined, 'the CLI reached the control plane through the relay, after the renewals');
        firstRetireMs = performance.now() - lastOldLeaf;
        const early = await call<ApiErrorBody>(pair.cp.url, 'POST', '/v1/ca/retire', {});
        const rotate = await rotating;
        const rotatedMs = performance.now() - lastOldLeaf;
        assert.equal(rotate.code, 0, rotate.stderr);
        assert.match(rotate.stdout, /bundle v2, 2 root/);
        assert.equal(early.status, 409, `retire ${Math.round(firstRetireMs)} ms after the old root's last leaf (the CLI done after ${Math.round(rotatedMs)} ms): ${early.text}`);
        assert.equal(early.body.error.code, 'HYPHAE_ERR_CONFLICT');
        const named = /may be valid until (\S+) /.exec(early.body.error.message);
        assert.ok(named, early.body.error.message);
        refusals++;
        let until = Date.parse(named[1]!);
        const refusal = (r: Awaited<ReturnType<Pair['cli']>>) => {
          const m = /HYPHAE_ERR_CONFLICT: certificates signed by the old root may be valid until (\S+) /.exec(r.stderr);
          assert.ok(m, `retire: exit ${r.code}\n${r.stdout}${r.stderr}`);
          refusals++;
          return Date.parse(m[1]!);
        };
        let retire: Awaited<ReturnType<Pair['cli']>>;
        // Meanwhile every workload hears of the new root, then is re-issued from it. Twice: a renewal that began
        // before the rotation may still be in flight, and a request to renew then joins it.
        await waitUntil(() => api.identity()!.trustBundleVersion === 2 && client.identity()!.trustBundleVersion === 2, 60_000, 20);
        const rotatedAt = pair.rotations();
        await pair.renewBoth();
        await pair.renewBoth();
        const reissued = pair.rotations();
        assert.ok(reissued.api - rotatedAt.api >= 2 && reissued.client - rotatedAt.client >= 2, `re-issued: ${JSON.stringify({ rotatedAt, reissued })}`);
        // Once the instant it named has passed, retire succeeds.
        for (;;) {
          await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 100));
          retire = await pair.cli('ca', 'retire');
          if (retire.code === 0) break;
          assert.ok(refusals < 3, `refused ${refusals + 1} times:\n${retire.stderr}`);
          until = refusal(retire);
        }
        assert.match(retire.stdout, /bundle v3, 1 root/);
        await waitUntil(() => api.identity()!.trustBundleVersion === 3 && client.identity()!.trustBundleVersion === 3, 60_000, 20);
        // Renewals after the retirement reach the control plane, whose certificate now comes from the new root, and
        // new connections between the workloads trust the new root alone.
        const retiredAt = pair.rotations();
        await pair.renewBoth();
        await pair.renewBoth();
        const renewed = pair.rotations();
        assert.ok(renewed.api - retiredAt.api >= 2 && renewed.client - retiredAt.client >= 2, `renewed after retire: ${JSON.stringify({ retiredAt, renewed })}`);
        const hs = frontStats(server)!.accepted;
        const ok = traffic.ok;
        await waitUntil(() => (frontStats(server)!.accepted - hs >= 2 && traffic.ok - ok >= 50) || traffic.failed > 0, 60_000, 20).catch(() => {});
        afterRetire = { handshakes: frontStats(server)!.accepted - hs, ok: traffic.ok - ok };
      } finally {
        await traffic.stop();
      }
      const show = await pair.cli('ca', 'show');
      console.log(
        `root rotation: ${traffic.ok} requests ok, ${traffic.failed} failed; retire first asked ${((firstRetireMs ?? 0) / 1000).toFixed(1)} s after the last old leaf, ` +
          `refused ${refusals} time(s) until it expired; ${afterRetire?.ok} requests and ${afterRetire?.handshakes} handshakes after it\n${show.stdout.trimEnd()}`,
      );
      assert.equal(traffic.failed, 0, traffic.errors.slice(0, 5).join('\n'));
      assert.ok(afterRetire && afterRetire.handshakes >= 2 && afterRetire.ok >= 50, `calls and new connections after the retirement: ${JSON.stringify(afterRetire)}`);
      assert.match(show.stdout, /1 root\(s\)/);
    });
  });
});
