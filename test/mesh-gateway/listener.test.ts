/**
 * The mesh gateway's listener on real sockets: routing by SNI to local instances with least connections,
 * the ClientHello forwarded first and bytes piped both ways with half-close passed on, an instance that
 * refuses skipped for another, and every refusal (a TLS alert when a ClientHello came) counted and logged
 * once per cause.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import { meshSni } from '../../src/config/mesh-sni.js';
import { waitUntil, within } from '../helpers/hostile-peers.js';
import { buildHello, captureHello, serverName } from './hello-fixtures.js';
import { alert, closedPort, CLUSTER, RELAYS, send, startHarness, startInstance, type Harness, type Instance } from './listener-harness.js';

const API = { namespace: 'default', name: 'api' };
const API_SNI = meshSni({ service: 'api', namespace: 'default', cluster: CLUSTER });
const STALL_MS = 10_000;
const UNRECOGNIZED_NAME = 112;
const HANDSHAKE_FAILURE = 40;
const DECODE_ERROR = 50;

// Both relays: the native relay's thread (the default where it loads, as here) and Node's streams.
for (const relay of RELAYS) {
  describe(`mesh gateway listener: routing and piping (${relay} relay)`, () => {
    let h: Harness;
    let a: Instance;
    let b: Instance;
    let hello: Buffer;

    before(async () => {
      h = await startHarness({ relay });
      a = await startInstance();
      b = await startInstance();
      hello = await captureHello(API_SNI);
    });
    afterEach(() => h.resolver.set(API, []));
    after(async () => {
      await h.close();
      await a.close();
      await b.close();
    });

    it('forwards the ClientHello then every byte both ways, and passes a half-close on', async () => {
      h.resolver.set(API, [{ address: '127.0.0.1', port: a.port }]);
      const c = await send(h.port, hello);
      c.socket.write('after the hello');
      // The echo instance returns exactly what the gateway forwarded, the ClientHello first.
      const expected = hello.toString('latin1') + 'after the hello';
      await waitUntil(() => c.received() === expected, STALL_MS, 'the echo of the hello and the bytes after it');
      // Our FIN reaches the instance, whose FIN (the echo ends) comes back: the connection ends cleanly.
      c.socket.end();
      assert.ok(await within(c.endedByServer, STALL_MS), 'the half-close went through and came back');
      await waitUntil(() => h.counters.stats.active === 0, STALL_MS, 'the gateway let go of both sockets');
      assert.equal(h.counters.stats.forwarded, 1);
    });

    it('balances by least connections: held connections spread evenly over the instances', async () => {
      h.resolver.set(API, [
        { address: '127.0.0.1', port: a.port },
        { address: '127.0.0.1', port: b.port },
      ]);
      const before = [a.accepted, b.accepted];
      const held = [];
      for (let i = 0; i < 6; i++) {
        const c = await send(h.port, hello);
        // Each is piped before the next comes (its echo is back), so the counts the router sees are current.
        await waitUntil(() => c.received().length >= hello.length, STALL_MS, `connection ${i} piped`);
        held.push(c);
      }
      assert.deepEqual([a.accepted - before[0]!, b.accepted - before[1]!], [3, 3]);
      for (const c of held) c.close();
    });

    it('skips an instance whose connect fails, for another, before any byte is forwarded; refuses when none accepts', async () => {
      const dead = await closedPort();
      h.resolver.set(API, [
        { address: '127.0.0.1', port: dead },
        { address: '127.0.0.1', port: a.port },
      ]);
      const failures = h.counters.stats.backendConnectFailures;
      for (let i = 0; i < 4; i++) {
        const c = await send(h.port, hello);
        await waitUntil(() => c.received() === hello.toString('latin1'), STALL_MS, `connection ${i} reached the live instance`);
        c.close();
      }
      // The dead one was tried at most once: after its failure it is skipped while a live one is left.
      assert.ok(h.counters.stats.backendConnectFailures - failures <= 1, `failures: ${h.counters.stats.backendConnectFailures - failures}`);

      h.resolver.set(API, [{ address: '127.0.0.1', port: await closedPort() }]);
      const refused = h.counters.stats.refused['connect-failed'] ?? 0;
      const c = await send(h.port, hello);
      assert.ok(await within(c.endedByServer, STALL_MS));
      assert.equal(c.received(), alert(HANDSHAKE_FAILURE));
      assert.equal(h.counters.stats.refused['connect-failed'], refused + 1);
    });

    it('never routes to an imported instance (one of another cluster): that would chain gateways', async () => {
      h.resolver.set(API, [{ address: '127.0.0.1', port: a.port, cluster: 'dc3' }]);
      const accepted = a.accepted;
      const c = await send(h.port, hello);
      assert.ok(await within(c.endedByServer, STALL_MS));
      assert.equal(c.received(), alert(HANDSHAKE_FAILURE));
      assert.equal(a.accepted, accepted);
      assert.ok((h.counters.stats.refused['no-instances'] ?? 0) >= 1);
    });
  });
}

describe('mesh gateway listener: refusals', () => {
  let h: Harness;
  let inst: Instance;
  const warnings: Record<string, unknown>[] = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (_m, f) => warnings.push(f ?? {}) };

  before(async () => {
    h = await startHarness({}, logger);
    inst = await startInstance();
    h.resolver.set(API, [{ address: '127.0.0.1', port: inst.port }]);
  });
  after(async () => {
    await h.close();
    await inst.close();
  });

  it('refuses names it must not serve with an unrecognized_name alert, counted each time and logged once per cause', async () => {
    const cases: [string, Buffer, string, string][] = [
      ['another cluster', await captureHello(meshSni({ service: 'api', namespace: 'default', cluster: 'dc1' })), 'other-cluster', alert(UNRECOGNIZED_NAME)],
      ['an unknown service', await captureHello(meshSni({ service: 'ghost', namespace: 'default', cluster: CLUSTER })), 'unknown-service', alert(UNRECOGNIZED_NAME)],
      ['not a mesh name', await captureHello('api.example.com'), 'not-mesh-sni', alert(UNRECOGNIZED_NAME)],
      ['no SNI', await captureHello(undefined), 'no-sni', alert(UNRECOGNIZED_NAME)],
      ['two host names', buildHello([serverName(API_SNI, 'web.default.dc2.hyphae')]), 'malformed', alert(DECODE_ERROR)],
      ['not TLS', Buffer.from('GET / HTTP/1.1\r\nHost: api\r\n\r\n'), 'not-tls', ''],
    ];
    for (const [what, bytes, cause, answer] of cases) {
      for (let i = 0; i < 3; i++) {
        const c = await send(h.port, bytes);
        assert.ok(await within(c.endedByServer, STALL_MS), `${what}: not closed`);
        assert.equal(c.received(), answer, what);
        c.close();
      }
      assert.equal(h.counters.stats.refused[cause as 'no-sni'], 3, what);
      assert.equal(warnings.filter((w) => w.cause === cause).length, 1, `${what}: logged once`);
    }
    assert.equal(inst.accepted, 0, 'nothing reached the instance');
    // An unknown service is not kept followed: names a peer invents do not pile up.
    await waitUntil(() => h.router.size <= 1, STALL_MS, 'the unknown service forgotten');
  });

  it('bounds the services followed: a new name past maxServices is refused', async () => {
    const small = await startHarness({}, logger, 1);
    try {
      small.resolver.set(API, [{ address: '127.0.0.1', port: inst.port }]);
      small.resolver.set({ namespace: 'default', name: 'web' }, [{ address: '127.0.0.1', port: inst.port }]);
      const first = await send(small.port, await captureHello(API_SNI));
      await waitUntil(() => first.received().length > 0, STALL_MS, 'api routed');
      const second = await send(small.port, await captureHello(meshSni({ service: 'web', namespace: 'default', cluster: CLUSTER })));
      assert.ok(await within(second.endedByServer, STALL_MS));
      assert.equal(second.received(), alert(UNRECOGNIZED_NAME));
      assert.equal(small.counters.stats.refused['too-many-services'], 1);
      first.close();
    } finally {
      await small.close();
    }
  });
});
