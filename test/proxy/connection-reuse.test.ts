/**
 * A proxy pair reuses its connections (issue 16's performance: the hyphae pair against the nginx sidecar
 * pair). An application's client -> `hyphae proxy` (outbound) -> mTLS through the mesh client's pool ->
 * `hyphae proxy` (inbound, a wrapped server) -> the application, on real sockets with a control plane as a
 * child process. Every new connection between the proxies is an mTLS handshake, an RSA signature on each
 * side (1-2 ms of CPU, where a request costs ~0.1 ms), so:
 *
 * - sequential requests share one connection on every hop;
 * - concurrent waves need no more connections than requests in flight, whatever the number of waves;
 * - a pause longer than the 3 s a mesh client used to keep an idle connection to a wrapped server (Node's
 *   5 s keepAliveTimeout, minus undici's 2 s margin) re-makes none: bench:edges' hyphae rows re-made every
 *   connection after each other row's turn, and nginx's did not (docs/benchmarks.md "Edges").
 *
 * Connections are counted where they are made: the mesh client's completed mTLS handshakes
 * (`mesh.identity().handshakes`) and the connections each listener accepts (Node's `net.server.socket`
 * diagnostics channel, by local port).
 */
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, Pool, type Dispatcher } from 'undici';
import { silentLogger } from '../../src/core/logger.js';
import { startProxy, type RunningProxy } from '../../src/proxy/start-proxy.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

/** A ceiling against a stalled request on a busy machine, not an expectation. */
const STALL_MS = 30_000;
/** Requests in flight in each concurrent wave: the load generator's connections to the outbound listener. */
const CONCURRENCY = 8;

describe('hyphae proxy pair: connections are reused under a steady load and across pauses', () => {
  let cp: RunningControlPlane;
  let app: http.Server;
  let server: RunningProxy;
  let client: RunningProxy;
  let load: Pool;
  const accepted = new Map<number, number>();
  const onAccept = (m: unknown) => {
    const port = (m as { socket: Socket }).socket.localPort ?? 0;
    accepted.set(port, (accepted.get(port) ?? 0) + 1);
  };

  before(async () => {
    dc.subscribe('net.server.socket', onAccept);
    cp = await startControlPlane();
    app = http.createServer((_req, res) => res.end('app'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const upstream = { host: '127.0.0.1', port: (app.address() as AddressInfo).port };
    const quick = { drainDelayMs: 0, gracePeriodMs: 1_000 };
    server = await startProxy({ mesh: { ...(await cp.meshOptions('reuse-app')), server: quick }, upstream, listen: { host: '127.0.0.1', port: 0 }, outbound: false, logger: silentLogger });
    // Its own application is never called here: it is the workload whose outbound the load uses.
    client = await startProxy({
      mesh: { ...(await cp.meshOptions('reuse-client')), server: quick },
      upstream,
      listen: { host: '127.0.0.1', port: 0 },
      outbound: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
    });
    load = new Pool(`http://127.0.0.1:${client.outboundAddress!.port}`, { connections: CONCURRENCY });
  });

  after(async () => {
    dc.unsubscribe('net.server.socket', onAccept);
    await load?.close();
    await client?.close();
    await server?.close();
    app?.close();
    await cp?.stop();
  });

  const send = async (through: Dispatcher = load): Promise<string | string[] | undefined> => {
    const res = await through.request({ path: '/', method: 'GET', headers: { host: 'reuse-app' }, headersTimeout: STALL_MS, bodyTimeout: STALL_MS });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'app', "the application's own answer, not a proxy's");
    return res.headers['keep-alive'];
  };
  const wave = () => Promise.all(Array.from({ length: CONCURRENCY }, () => send()));
  /** New connections on each hop since `from` (a previous count). */
  const counts = () => ({
    handshakes: client.mesh.identity()!.handshakes,
    mtlsAccepted: accepted.get(server.inboundAddress!.port) ?? 0,
    outboundAccepted: accepted.get(client.outboundAddress!.port) ?? 0,
  });
  const since = (from: ReturnType<typeof counts>) => {
    const now = counts();
    return { handshakes: now.handshakes - from.handshakes, mtlsAccepted: now.mtlsAccepted - from.mtlsAccepted, outboundAccepted: now.outboundAccepted - from.outboundAccepted };
  };

  it('sends 20 sequential requests over one connection on each hop', async () => {
    // One connection of its own: undici's Pool may open a second one for a request sent in the tick its
    // previous one completed (before the pool hears the connection is free), which is the load's doing.
    const one = new Client(`http://127.0.0.1:${client.outboundAddress!.port}`);
    try {
      const start = counts();
      for (let i = 0; i < 20; i++) await send(one);
      assert.deepEqual(since(start), { handshakes: 1, mtlsAccepted: 1, outboundAccepted: 1 });
    } finally {
      await one.close();
    }
  });

  it(`sends 5 waves of ${CONCURRENCY} concurrent requests over at most ${CONCURRENCY} connections on each hop`, async () => {
    const start = counts();
    for (let i = 0; i < 5; i++) await wave();
    const made = since(start);
    assert.ok(made.handshakes <= CONCURRENCY, `${made.handshakes} mTLS handshakes for ${5 * CONCURRENCY} requests, ${CONCURRENCY} at a time`);
    assert.equal(made.mtlsAccepted, made.handshakes, 'every connection the client made reached the inbound listener, and no other');
    assert.ok(made.outboundAccepted <= CONCURRENCY, `${made.outboundAccepted} connections to the outbound listener`);
  });

  it('keeps every connection through a pause the mesh client used to drop them after, and says how long it may', async () => {
    await wave();
    const start = counts();
    // The pause is the input here, not a wait for an event: longer than the 3 s an undici client kept an idle
    // connection to a server that advertised Node's default (Keep-Alive: timeout=5, minus its 2 s margin).
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const hints = await wave();
    assert.deepEqual(since(start), { handshakes: 0, mtlsAccepted: 0, outboundAccepted: 0 });
    // What the outbound listener tells an application's client; the wrapped inbound tells the mesh client the same.
    assert.ok(
      hints.every((h) => h === 'timeout=75'),
      `Keep-Alive hints: ${JSON.stringify(hints)}`,
    );
  });
});
