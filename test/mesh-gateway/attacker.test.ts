/**
 * The attacker's pass on the mesh gateway's listener, on real sockets: peers that never finish a
 * ClientHello (silent, a byte at a time, half-closed), a ClientHello over the bound, records split across
 * TCP segments, a bounded fuzz loop of mangled hellos, the connection cap, the idle timeout of a piped
 * connection whose instance accepted then stalls (and bytes one way keeping it), and the process's descriptors back to their baseline
 * once the peers leave.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { meshSni } from '../../src/config/mesh-sni.js';
import { MAX_HELLO_RECORDS } from '../../src/mesh-gateway/client-hello.js';
import { fdCount, hostilePeer, waitUntil, within } from '../helpers/hostile-peers.js';
import { buildHello, captureHello, extension, serverName, splitRecords } from './hello-fixtures.js';
import { alert, CLUSTER, RELAYS, send, startHarness, startInstance, type Harness, type Instance } from './listener-harness.js';

const API = { namespace: 'default', name: 'api' };
const API_SNI = meshSni({ service: 'api', namespace: 'default', cluster: CLUSTER });
const HELLO_TIMEOUT_MS = 600;
const IDLE_TIMEOUT_MS = 600;
const STALL_MS = 15_000;

// Both relays: the native relay's thread (the default where it loads, as here) and Node's streams.
for (const relay of RELAYS) {
  describe(`mesh gateway listener: the attacker pass (${relay} relay)`, () => {
    let h: Harness;
    let echo: Instance;
    let hello: Buffer;

    before(async () => {
      h = await startHarness({ helloTimeoutMs: HELLO_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS, maxHelloBytes: 4096, relay });
      echo = await startInstance();
      h.resolver.set(API, [{ address: '127.0.0.1', port: echo.port }]);
      hello = await captureHello(API_SNI);
    });
    after(async () => {
      await h.close();
      await echo.close();
    });

    it('cuts peers that never finish a ClientHello at the hello timeout, however they dribble or half-close', async () => {
      const before = h.counters.stats.refused['hello-timeout'] ?? 0;
      // A byte every 50 ms: an idle timer would never fire; the hello timer counts from accept.
      const peers = await Promise.all((['silent', 'slow-hello', 'partial-hello', 'half-close', 'partial-hello-half-close'] as const).map((k) => hostilePeer(h.port, k, 50)));
      try {
        const ended = await within(Promise.all(peers.map((p) => p.endedByServer)), STALL_MS);
        assert.ok(ended, `still connected: ${peers.filter((p) => !p.ended()).map((p) => p.kind)}`);
        // The silent and dribbling ones at the hello timeout (not at once); half-closed ones may go earlier.
        assert.ok(ended[0]! >= HELLO_TIMEOUT_MS * 0.9 && ended[1]! >= HELLO_TIMEOUT_MS * 0.9, `ended after ${ended.map(Math.round)} ms`);
        await waitUntil(() => h.counters.stats.active === 0, STALL_MS, 'every socket let go');
        assert.ok((h.counters.stats.refused['hello-timeout'] ?? 0) - before >= 3);
      } finally {
        for (const p of peers) p.close();
      }
    });

    it('routes a ClientHello whose records come a few bytes per TCP segment', async () => {
      // As many records as the parser takes, each cut across segments of 7 bytes (a header spans two).
      const split = splitRecords(hello, Math.ceil((hello.length - 5) / MAX_HELLO_RECORDS));
      const c = await send(h.port, undefined);
      c.socket.setNoDelay(true);
      for (let i = 0; i < split.length; i += 7) {
        c.socket.write(split.subarray(i, i + 7));
        // A turn of the event loop between writes: separate segments, read one at a time by the gateway.
        if (i % 70 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await waitUntil(() => c.received() === split.toString('latin1'), STALL_MS, 'the split hello forwarded as it came');
      c.close();
    });

    it('refuses a ClientHello over the size bound without waiting for its bytes', async () => {
      const big = buildHello([serverName(API_SNI), extension(21, Buffer.alloc(5000))]);
      const before = h.counters.stats.refused['too-large'] ?? 0;
      // Only its first record's header and the handshake header: the announced size is enough.
      const c = await send(h.port, big.subarray(0, 9));
      assert.ok(await within(c.endedByServer, STALL_MS));
      assert.equal(c.received(), alert(50));
      assert.equal(h.counters.stats.refused['too-large'], before + 1);
    });

    it('survives a bounded fuzz loop of mangled ClientHellos: each connection ends, nothing reaches an instance unless routed, the listener still serves', async () => {
      const seeds = [hello, buildHello([serverName(API_SNI)]), splitRecords(hello, 100)];
      let state = 0x1234567;
      const rand = (n: number) => {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        return (state >>> 0) % n;
      };
      for (let i = 0; i < 120; i++) {
        const seed = seeds[i % seeds.length]!;
        const b = Buffer.from(seed);
        for (let m = 1 + rand(3); m > 0; m--) b[rand(b.length)] = rand(256);
        const c = await send(h.port, b);
        // Refused at once, routed (echoed: we close it), or incomplete (the hello timeout closes it).
        const ended = await within(c.endedByServer, 200);
        if (ended === undefined) c.close();
      }
      await waitUntil(() => h.counters.stats.active === 0, STALL_MS, 'every fuzzed connection let go');
      const ok = await send(h.port, hello);
      await waitUntil(() => ok.received() === hello.toString('latin1'), STALL_MS, 'still routing after the fuzz');
      ok.close();
    });

    /** A piped connection to an instance that accepts, reads and never answers (a new one per call). */
    async function withStalledInstance(body: (c: Awaited<ReturnType<typeof send>>, stalled: Instance) => Promise<void>): Promise<void> {
      const stalled = await startInstance(true);
      h.resolver.set({ namespace: 'default', name: 'stalls' }, [{ address: '127.0.0.1', port: stalled.port }]);
      try {
        const c = await send(h.port, await captureHello(meshSni({ service: 'stalls', namespace: 'default', cluster: CLUSTER })));
        await waitUntil(() => stalled.accepted === 1, STALL_MS, 'the instance accepted');
        await body(c, stalled);
      } finally {
        await stalled.close();
      }
    }

    it('cuts a piped connection idle both ways, when the instance accepted then stalls', async () => {
      const before = h.counters.stats.idleTimeouts;
      await withStalledInstance(async (c, stalled) => {
        const ended = await within(c.endedByServer, STALL_MS);
        assert.ok(ended !== undefined && ended >= IDLE_TIMEOUT_MS * 0.9, `ended after ${ended} ms`);
        // The native relay's end comes to JavaScript just after the peer saw its close.
        await waitUntil(() => h.counters.stats.idleTimeouts === before + 1, STALL_MS, 'counted as an idle timeout');
        await waitUntil(() => stalled.open.size === 0, STALL_MS, "the instance's side closed too");
      });
    });

    it('keeps a piped connection while bytes move one way only, and cuts it once they stop', async () => {
      const before = h.counters.stats.idleTimeouts;
      await withStalledInstance(async (c) => {
        let cut = false;
        void c.endedByServer.then(() => (cut = true));
        // A byte each quarter of the idle timeout, for three timeouts: the caller's bytes alone keep the pair
        // (the idle sweep counts what either socket read, not a timer per socket).
        const trickleMs = 3 * IDLE_TIMEOUT_MS;
        const started = performance.now();
        while (!cut && performance.now() - started < trickleMs) {
          c.socket.write('x');
          await new Promise((resolve) => setTimeout(resolve, IDLE_TIMEOUT_MS / 4));
        }
        assert.equal(cut, false, 'cut while bytes were moving');
        const ended = await within(c.endedByServer, STALL_MS);
        assert.ok(ended !== undefined && ended >= trickleMs + IDLE_TIMEOUT_MS * 0.9, `ended after ${ended} ms`);
        await waitUntil(() => h.counters.stats.idleTimeouts === before + 1, STALL_MS, 'counted as an idle timeout');
      });
    });

    it('holds the connection cap: past it a connection is closed at once and counted', async () => {
      const capped = await startHarness({ maxConnections: 3, helloTimeoutMs: 30_000, relay });
      try {
        const held = await Promise.all([0, 1, 2].map(() => hostilePeer(capped.port, 'silent')));
        await waitUntil(() => capped.counters.stats.active === 3, STALL_MS, 'three held');
        const extra = await hostilePeer(capped.port, 'silent');
        assert.ok(await within(extra.endedByServer, STALL_MS), 'the fourth is closed');
        assert.equal(capped.counters.stats.refused['connection-cap'], 1);
        for (const p of held) p.close();
        await waitUntil(() => capped.counters.stats.active === 0, STALL_MS, 'the held ones let go');
        // Room again once they left.
        const c = await send(capped.port, Buffer.from('not tls'));
        assert.ok(await within(c.endedByServer, STALL_MS));
        assert.equal(capped.counters.stats.refused['not-tls'], 1, 'served (and refused on its merits), not dropped at the cap');
        extra.close();
      } finally {
        await capped.close();
      }
    });

    it('holds the connection cap over piped connections too (the native relay holds them without a socket of Node)', async () => {
      const capped = await startHarness({ maxConnections: 2, relay });
      capped.resolver.set(API, [{ address: '127.0.0.1', port: echo.port }]);
      try {
        const piped = await Promise.all([0, 1].map(() => send(capped.port, hello)));
        await waitUntil(() => piped.every((c) => c.received().length >= hello.length), STALL_MS, 'both piped');
        const extra = await send(capped.port, hello);
        assert.ok(await within(extra.endedByServer, STALL_MS), 'the third is closed');
        assert.equal(extra.received(), '', 'and never piped');
        assert.equal(capped.counters.stats.refused['connection-cap'], 1);
        for (const c of piped) c.close();
        extra.close();
        await waitUntil(() => capped.counters.stats.active === 0, STALL_MS, 'the piped ones let go');
      } finally {
        await capped.close();
      }
    });

    it('gives every descriptor back once hostile and piped peers leave', async () => {
      await waitUntil(() => h.counters.stats.active === 0, STALL_MS, 'quiet before');
      const baseline = fdCount(process.pid);
      const peers = await Promise.all([
        ...Array.from({ length: 10 }, (_, i) => hostilePeer(h.port, (['silent', 'slow-hello', 'half-close', 'partial-hello-half-close', 'garbage'] as const)[i % 5]!, 50)),
      ]);
      const piped = await Promise.all(Array.from({ length: 10 }, () => send(h.port, hello)));
      await waitUntil(() => piped.every((c) => c.received().length >= hello.length), STALL_MS, 'all piped');
      assert.ok(fdCount(process.pid) > baseline, 'the peers hold descriptors (the count can tell)');
      for (const p of peers) p.close();
      for (const c of piped) c.close();
      await waitUntil(() => h.counters.stats.active === 0 && echo.open.size === 0, STALL_MS, 'every connection let go');
      await waitUntil(() => fdCount(process.pid) <= baseline, STALL_MS, `descriptors back to ${baseline}`);
    });
  });
}
