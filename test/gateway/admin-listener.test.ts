/**
 * The gateway's admin port (/healthz, /readyz) against peers that hold a
 * connection without finishing anything, on real sockets: a silent peer (one
 * that reads, one that never does) and a slowloris peer are answered 408 at
 * its 5 s header timeout and destroyed, malformed HTTP is answered 400 and
 * destroyed; it serves again after them.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import { createAdminListener } from '../../src/gateway/admin-listener.js';
import { slowRequest, waitUntil, watchPeer, within } from '../helpers/hostile-peers.js';
import { rawExchange } from '../helpers/raw-http.js';

describe('gateway admin listener: the attacker pass', () => {
  let server: http.Server;
  let port: number;

  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  const connections = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

  before(async () => {
    server = createAdminListener({ notReady: () => undefined }, silentLogger);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers silent and slowloris peers 408 at the header timeout and destroys their sockets, read or not', async () => {
    const silent = watchPeer(await connect());
    const loris = slowRequest(await connect(), 'GET /readyz HTTP/1.1\r\nHost: x\r\n', `X-Slow: ${'a'.repeat(200)}`, 200);
    // It reads nothing: its unread 408 keeps its own socket from ever emitting 'end'; the server's count tells.
    const mute = await connect();
    try {
      // The header timeout is 5 s; the ceiling only catches a peer never cut.
      const ended = await within(Promise.all([silent.endedByServer, loris.endedByServer]), 20_000);
      assert.ok(ended, `a peer is still connected after 20 s: ${JSON.stringify([silent.received(), loris.received()])}`);
      assert.match(silent.received(), /^HTTP\/1\.1 408 /);
      assert.match(loris.received(), /^HTTP\/1\.1 408 /);
      await waitUntil(async () => (await connections()) === 0, 5_000, 'every socket destroyed');
      assert.equal(mute.destroyed, false, 'the peer that reads nothing still holds its end');
    } finally {
      silent.close();
      loris.close();
      mute.destroy();
    }
    assert.equal((await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 200);
  });

  it('answers malformed HTTP 400 and destroys the socket', async () => {
    const socket = await connect();
    const peer = watchPeer(socket);
    try {
      socket.write('NOT HTTP\r\n\r\n');
      assert.notEqual(await within(peer.endedByServer, 10_000), undefined, 'the malformed peer is let go');
      assert.match(peer.received(), /^HTTP\/1\.1 400 /);
      await waitUntil(async () => (await connections()) === 0, 5_000, 'its socket destroyed');
    } finally {
      peer.close();
    }
  });
});
