/**
 * ResponseRelay between real sockets: a node:http backend, an undici Pool
 * dispatching to it with the relay as the request's handler, and an edge
 * server whose responses the relay writes. The answer's fields cross as the
 * backend sent them (order, case, duplicates) without the hop-by-hop ones,
 * also on a response that has headers of its own already; a client that
 * does not read holds the backend back; a client that leaves, or a signal
 * that fires, stops the backend's request.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { ClientGoneError, ResponseRelay, type RelayFailure } from '../../src/edge/relay.js';
import { waitUntil } from '../helpers/hostile-peers.js';

const STALL_MS = 15_000;
// Well above what the kernel buffers of two loopback connections hold (a few MiB each way).
const BIG = 64 * 1024 * 1024;

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** The raw head of the edge's answer to `GET target` (Connection: close), read until the server closes. */
function rawHead(port: number, target: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`GET ${target} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1').split('\r\n\r\n')[0]!.split('\r\n')));
  });
}

describe('ResponseRelay', () => {
  let backend: http.Server;
  let edge: http.Server;
  let pool: Pool;
  let edgePort: number;
  /** The backend's requests, by path: whether each ended before its answer did. */
  const closedEarly = new Set<string>();
  const arrived = new Set<string>();
  let bigWritten = 0;
  /** The edge's response to /big. */
  let bigRes: http.ServerResponse | undefined;
  const failures: { err: Error; reason: Error | undefined }[] = [];
  /** Fired by the edge for /signalled once the backend has the request: a deadline, as the proxy's intake signal. */
  let deadline: AbortController | undefined;

  before(async () => {
    backend = http.createServer((req, res) => {
      const path = req.url!;
      arrived.add(path);
      res.once('close', () => {
        if (!res.writableFinished) closedEarly.add(path);
      });
      if (path === '/headers') {
        // prettier-ignore
        res.writeHead(200, [
          'Set-Cookie', 'a=1',
          'X-Case', 'MiXeD',
          'Connection', 'keep-alive, X-Hop',
          'X-Hop', 'secret',
          'Keep-Alive', 'timeout=5',
          'set-cookie', 'b=2',
          'Content-Length', '2',
        ]);
        res.end('ok');
        return;
      }
      if (path === '/big') {
        res.writeHead(200, { 'content-length': BIG });
        const chunk = Buffer.alloc(64 * 1024, 120);
        const pump = () => {
          while (bigWritten < BIG) {
            bigWritten += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      // /hang, /signalled: never answered; the relay must stop them.
    });
    pool = new Pool(`http://127.0.0.1:${await listen(backend)}`);
    const fail: RelayFailure = (res, err, relay) => {
      failures.push({ err, reason: relay.abortReason });
      if (!res.destroyed) res.writeHead(relay.abortReason ? 504 : 502).end();
    };
    edge = http.createServer((req, res) => {
      let path = req.url!;
      if (path.startsWith('/preset')) {
        // A layer set a header before the handler ran (a draining server's Connection: close).
        res.setHeader('x-edge', 'set before');
        path = path.slice('/preset'.length);
      }
      if (path === '/big') bigRes = res;
      deadline = path === '/signalled' ? new AbortController() : undefined;
      pool.dispatch({ path, method: 'GET', headers: [] }, new ResponseRelay(res, undefined, fail, deadline?.signal));
    });
    edgePort = await listen(edge);
  });

  after(async () => {
    edge.closeAllConnections();
    edge.close();
    await pool.destroy();
    backend.closeAllConnections();
    backend.close();
  });

  for (const preset of [false, true]) {
    it(`relays end-to-end fields as sent, order, case and duplicates, without hop-by-hop ones${preset ? ', after headers set on the response' : ''}`, async () => {
      const head = await rawHead(edgePort, preset ? '/preset/headers' : '/headers');
      assert.equal(head[0], 'HTTP/1.1 200 OK');
      const fields = head.slice(1).filter((l) => !/^(date|connection):/i.test(l));
      // With headers set before, Node keeps fields by name (the first spelling), each name's values in order.
      const expected = preset ? ['Set-Cookie: a=1', 'Set-Cookie: b=2', 'X-Case: MiXeD', 'Content-Length: 2'] : ['Set-Cookie: a=1', 'X-Case: MiXeD', 'set-cookie: b=2', 'Content-Length: 2'];
      assert.deepEqual(preset ? fields.filter((l) => l !== 'x-edge: set before') : fields, expected);
      if (preset) assert.ok(fields.includes('x-edge: set before'), head.join('\n'));
      // The edge's own connection header, never the backend's list.
      assert.deepEqual(
        head.filter((l) => /^connection:/i.test(l)),
        ['Connection: close'],
      );
    });
  }

  it('holds the backend back while the client does not read, then delivers every byte', async () => {
    let received = 0;
    let response: http.IncomingMessage | undefined;
    const done = new Promise<void>((resolve, reject) => {
      http
        .get({ port: edgePort, host: '127.0.0.1', path: '/big' }, (res) => {
          response = res;
          res.pause();
          res.on('data', (c: Buffer) => (received += c.length));
          res.on('end', resolve);
          res.on('error', reject);
        })
        .on('error', reject);
    });
    // The relay paused the backend's socket: it waits for the client's 'drain'.
    await waitUntil(() => response !== undefined && bigRes !== undefined && bigRes.listenerCount('drain') > 0, STALL_MS, 'the relay paused the backend');
    // Not buffered by the edge meanwhile, and the backend could not finish.
    assert.ok(bigRes!.writableLength < 1024 * 1024, `the edge holds ${bigRes!.writableLength} bytes for a client that reads nothing`);
    assert.ok(bigWritten < BIG, 'the backend wrote its whole body to a client that reads nothing');
    response!.resume();
    await done;
    assert.equal(received, BIG);
    assert.equal(bigWritten, BIG);
  });

  it('a client that leaves stops the backend request, and is answered nothing', async () => {
    failures.length = 0;
    const sock = net.connect(edgePort, '127.0.0.1', () => sock.write('GET /hang HTTP/1.1\r\nHost: edge\r\n\r\n'));
    await waitUntil(() => arrived.has('/hang'), STALL_MS, 'the request reached the backend');
    sock.destroy();
    await waitUntil(() => closedEarly.has('/hang'), STALL_MS, 'the backend request was stopped');
    await waitUntil(() => failures.length === 1, STALL_MS, 'the relay reported the failure');
    assert.ok(failures[0]!.reason instanceof ClientGoneError);
  });

  it("a signal that fires stops the backend request, and the edge answers with the signal's reason", async () => {
    failures.length = 0;
    const answer = new Promise<number>((resolve, reject) => {
      http.get({ port: edgePort, host: '127.0.0.1', path: '/signalled' }, (res) => resolve(res.statusCode!)).on('error', reject);
    });
    await waitUntil(() => arrived.has('/signalled'), STALL_MS, 'the request reached the backend');
    const reason = new Error('deadline');
    deadline!.abort(reason);
    assert.equal(await answer, 504);
    await waitUntil(() => closedEarly.has('/signalled'), STALL_MS, 'the backend request was stopped');
    assert.equal(failures[0]!.reason, reason);
  });
});
