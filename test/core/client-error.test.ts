/**
 * answerClientErrors (src/core/client-error.ts) on a real http server: what the parser refuses is
 * answered with coded JSON and the socket closed; the listener hears of each refusal; a socket the
 * listener says cannot carry HTTP (a TLS handshake not done) is destroyed without an answer.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { answerClientErrors, type RefusedRequest } from '../../src/core/client-error.js';
import { applyHttpTimeouts } from '../../src/core/listener-guard.js';
import { watchPeer, within } from '../helpers/hostile-peers.js';
import { rawExchange } from '../helpers/raw-http.js';

async function server(answerable?: (socket: net.Socket) => boolean): Promise<{ port: number; refused: RefusedRequest[]; close(): Promise<void> }> {
  const refused: RefusedRequest[] = [];
  const s = http.createServer({ maxHeaderSize: 1024 }, (_req, res) => res.end('ok'));
  applyHttpTimeouts(s, 500, 1_000);
  answerClientErrors(s, { limits: () => ({ headersTimeoutMs: 500, requestTimeoutMs: 1_000, maxHeaderSize: 1024 }), refused: (r) => refused.push(r), ...(answerable ? { answerable } : {}) });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    port: (s.address() as AddressInfo).port,
    refused,
    close: () => new Promise((resolve) => (s.closeAllConnections(), s.close(() => resolve()))),
  };
}

const errorOf = (body: string) => (JSON.parse(body) as { error: { code: string; message: string } }).error;

describe('answerClientErrors', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });

  it('answers a malformed request 400, oversized headers 431 and a silent peer 408, each with a coded body', async () => {
    const s = await server();
    closers.push(s.close);
    const bad = await rawExchange(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n');
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(errorOf(bad.body).code, 'HYPHAE_ERR_BAD_REQUEST');
    assert.match(errorOf(bad.body).message, /^malformed HTTP request \(HPE_[A-Z_]+\): /);

    const big = await rawExchange(s.port, `GET / HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(2_000)}\r\n\r\n`);
    assert.equal(big.status, 431);
    assert.deepEqual(errorOf(big.body), { code: 'HYPHAE_ERR_BAD_REQUEST', message: 'the request line and headers exceed 1024 bytes' });

    const silent = watchPeer(net.connect(s.port, '127.0.0.1'));
    assert.notEqual(await within(silent.endedByServer, 15_000), undefined, 'the silent peer is let go');
    const reply = silent.received();
    assert.match(reply, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.equal(errorOf(reply.slice(reply.indexOf('\r\n\r\n') + 4)).code, 'HYPHAE_ERR_REQUEST_TIMEOUT');
    silent.close();

    assert.deepEqual(
      s.refused.map((r) => r.status),
      [400, 431, 408],
    );
  });

  it('destroys, without a word, a socket the listener says cannot carry an answer', async () => {
    const s = await server(() => false);
    closers.push(s.close);
    const socket = net.connect(s.port, '127.0.0.1');
    const peer = watchPeer(socket);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n');
    assert.notEqual(await within(peer.endedByServer, 15_000), undefined);
    assert.equal(peer.received(), '');
    assert.deepEqual(s.refused, []);
    peer.close();
  });
});
