/**
 * The outbound listener against peers that hold connections without finishing
 * anything (DESIGN, security rules): silent, half-closed and slowloris peers
 * are cut at the header timeout and descriptors come back; oversized headers
 * get 431, CONNECT 405, a host that is not a mesh service 502, each with a
 * coded body; and the listener never binds a non-loopback address. A silent
 * peer is answered 408 (Node times a connection's first request from accept),
 * so silent peers cannot hold the connection cap, while a keep-alive client
 * idle between requests longer than the timeouts keeps its connection.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StaticResolver } from '../../src/extend.js';
import { silentLogger } from '../../src/core/logger.js';
import { isMeshError } from '../../src/core/errors.js';
import { createOutboundListener } from '../../src/proxy/outbound-listener.js';
import { startProxy, type RunningProxy } from '../../src/proxy/start-proxy.js';
import { fdCount, hostilePeer, requestsAcrossIdle, slowRequest, waitUntil, watchPeer } from '../helpers/hostile-peers.js';
import { rawExchange, rawRequest } from '../helpers/raw-http.js';
import { cliPath, startNode } from '../helpers/process.js';

const STALL_MS = 15_000;
const HEADERS_TIMEOUT_MS = 1_000;

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function code(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

describe('hyphae proxy outbound listener: the attacker pass', () => {
  const resolver = new StaticResolver();
  let app: http.Server;
  let api: http.Server;
  let proxy: RunningProxy;
  let port: number;

  before(async () => {
    app = http.createServer((_req, res) => res.end('app'));
    api = http.createServer((req, res) => res.end(JSON.stringify({ api: req.url })));
    resolver.set('api', [{ address: '127.0.0.1', port: await listen(api) }]);
    proxy = await startProxy({
      mesh: { service: 'attacked', resolver, logger: silentLogger, server: { drainDelayMs: 0, gracePeriodMs: 1_000 } },
      upstream: { host: '127.0.0.1', port: await listen(app) },
      listen: { host: '127.0.0.1', port: 0 },
      outbound: { host: '127.0.0.1', port: 0 },
      outboundLimits: { headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: 2_000, maxHeaderSize: 4_096 },
      logger: silentLogger,
    });
    port = proxy.outboundAddress!.port;
  });

  after(async () => {
    await proxy?.close();
    app?.close();
    api?.close();
  });

  it('sends absolute-form and Host-named requests to the mesh service', async () => {
    const absolute = await rawRequest(port, { target: 'http://api/abs?x=1' });
    assert.equal(absolute.status, 200);
    assert.deepEqual(JSON.parse(absolute.body), { api: '/abs?x=1' });
    const byHost = await rawExchange(port, 'GET /by-host HTTP/1.1\r\nHost: api.default:15001\r\nConnection: close\r\n\r\n');
    assert.equal(byHost.status, 200);
    assert.deepEqual(JSON.parse(byHost.body), { api: '/by-host' });
  });

  it('a host that is not a mesh service is 502 with a coded body; a service the mesh does not know too', async () => {
    for (const target of ['http://example.com/', 'http://api.elsewhere/', 'http://nosuch/']) {
      const reply = await rawRequest(port, { target }, STALL_MS);
      assert.equal(reply.status, 502, target);
      assert.equal(code(reply.body), 'HYPHAE_ERR_SERVICE_NOT_FOUND', target);
    }
  });

  it('CONNECT gets 405 with a coded body and the connection closed: no TLS tunnel through the mesh', async () => {
    const reply = await rawExchange(port, 'CONNECT api:443 HTTP/1.1\r\nHost: api:443\r\n\r\n');
    assert.equal(reply.status, 405);
    assert.equal(code(reply.body), 'HYPHAE_ERR_METHOD_NOT_ALLOWED');
  });

  it('headers over the limit get 431', async () => {
    const reply = await rawRequest(port, { target: 'http://api/', headers: [['x-big', 'a'.repeat(8_000)]] });
    assert.equal(reply.status, 431);
    assert.equal(code(reply.body), 'HYPHAE_ERR_BAD_REQUEST');
  });

  it('silent, half-closed and slowloris peers are cut at the header timeout, and descriptors return to the baseline', async () => {
    const baseline = fdCount(process.pid);
    const silent = await hostilePeer(port, 'silent');
    const halfClose = await hostilePeer(port, 'half-close');
    // They read what the listener says (its 408) so that its FIN shows as 'end' once the answer is consumed.
    silent.socket.resume();
    halfClose.socket.resume();
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    const loris = slowRequest(socket, 'GET http://api/ HTTP/1.1\r\nHost: api\r\n', 'X-Slow: ' + 'a'.repeat(200), 100);
    try {
      const started = performance.now();
      await Promise.all([silent.endedByServer, halfClose.endedByServer, loris.endedByServer].map((p, i) => Promise.race([p, stall(`peer ${i}`)])));
      const elapsed = performance.now() - started;
      assert.ok(elapsed < HEADERS_TIMEOUT_MS + 5_000, `cut at about the header timeout (${Math.round(elapsed)} ms)`);
    } finally {
      silent.close();
      halfClose.close();
      loris.close();
    }
    await waitUntil(() => fdCount(process.pid) <= baseline, STALL_MS, 'descriptors back to the baseline');
  });

  it('keeps a keep-alive connection that idles between requests longer than the header and request timeouts', async () => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    // 2.5 s: past the 2 s request timeout, within Node's 5 s keepAliveTimeout.
    const { statuses, endedByServer } = await requestsAcrossIdle(socket, 'GET http://api/ka HTTP/1.1\r\nHost: api\r\n\r\n', 2_500);
    assert.deepEqual(statuses, [200, 200, 200]);
    assert.equal(endedByServer, false);
  });

  it('silent peers that fill the cap are answered 408 at the header timeout (read or not), so a client refused at the cap gets in after them', async () => {
    const MAX = 3;
    // 3 s rather than 1 s: the cap must still be full when the fourth connects, on a busy machine too.
    const listener = createOutboundListener(proxy.mesh, 'default', { headersTimeoutMs: 3_000, requestTimeoutMs: 6_000, maxConnections: MAX, maxHeaderSize: 4_096 }, silentLogger);
    const capped = await listen(listener);
    const connect = () =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ port: capped, host: '127.0.0.1', allowHalfOpen: true });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    const connections = () => new Promise<number>((resolve, reject) => listener.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    // Two read what they are sent; one reads nothing, and its unread 408 keeps its own socket from ever
    // emitting 'end': only the listener's count tells that it let go.
    const readers = await Promise.all([connect(), connect()].map(async (s) => watchPeer(await s)));
    const mute = await connect();
    try {
      const extra = watchPeer(await connect());
      await Promise.race([extra.endedByServer, stall('the connection over the cap')]);
      extra.close();
      assert.equal(extra.received(), '', 'closed at accept, without an answer');
      await Promise.race([Promise.all(readers.map((r) => r.endedByServer)), stall('the silent peers')]);
      for (const r of readers) assert.match(r.received(), /^HTTP\/1\.1 408 /);
      await waitUntil(async () => (await connections()) === 0, STALL_MS, 'every silent socket destroyed');
      assert.equal(mute.destroyed, false, 'the peer that reads nothing still holds its end');
      const served = await rawRequest(capped, { target: 'http://api/after' }, STALL_MS);
      assert.equal(served.status, 200);
    } finally {
      for (const r of readers) r.close();
      mute.destroy();
      listener.closeAllConnections();
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it('refuses a non-loopback outbound address at start (library and CLI)', async () => {
    await assert.rejects(
      startProxy({ mesh: { service: 'x', resolver, logger: silentLogger }, upstream: { host: '127.0.0.1', port: 9 }, outbound: { host: '0.0.0.0', port: 0 } }),
      (err: unknown) => isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS') && /loopback/.test(err.message),
    );
    const cli = startNode(cliPath, ['proxy', '--service', 'x', '--upstream', '127.0.0.1:9', '--outbound', '192.0.2.1:15001'], { HYPHAE_CONTROL_PLANE: 'http://127.0.0.1:9' });
    const exit = await Promise.race([cli.exited, stall('the CLI exits')]);
    assert.notEqual(exit, 0);
    assert.match(cli.lines.join('\n'), /HYPHAE_ERR_INVALID_OPTIONS.*outbound must be a loopback address/);
  });
});

function stall(what: string): Promise<never> {
  return new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`${what}: stalled for ${STALL_MS} ms`)), STALL_MS).unref());
}
