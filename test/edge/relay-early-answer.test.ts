/**
 * An answer that comes before the request's body has all come in (a backend
 * refusing an upload without reading it): the client gets the answer with
 * `Connection: close` and its connection closes, instead of its next request
 * sitting for ever behind a body nobody reads. On both transports a proxy
 * may forward with (undici's Pool, the raw HTTP/1.1 pool). An upload the
 * backend reads whole keeps the connection for the next request.
 *
 * Real sockets on 127.0.0.1: a node:http backend, an edge server forwarding
 * with ResponseRelay as the proxies do, and the client as a raw socket (it
 * must send half a body, wait, and send the rest with a second request).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool, type Dispatcher } from 'undici';
import { Http1Pool } from '../../src/core/http1/pool.js';
import { ResponseRelay, type RelayFailure } from '../../src/edge/relay.js';
import { waitUntil } from '../helpers/wait.js';

const STALL_MS = 15_000;
const BODY = 1_000_000;

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** The client: a raw connection, what it has read, and whether it closed. */
function client(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  const state = { text: '', closed: false, sock };
  sock.on('data', (c: Buffer) => (state.text += c.toString('latin1')));
  sock.on('error', () => {});
  sock.on('close', () => (state.closed = true));
  return state;
}

const answers = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d+)[^\r]*\r\n((?:[^\r]+\r\n)*)\r\n/g)].map((m) => ({ status: Number(m[1]), head: m[2]!.toLowerCase() }));

for (const transport of ['undici', 'raw'] as const) {
  describe(`ResponseRelay on ${transport === 'raw' ? 'the raw HTTP/1.1 pool' : "undici's Pool"}: an answer before the whole request body`, () => {
    let backend: http.Server;
    let edge: http.Server;
    let pool: Dispatcher;
    let edgePort: number;
    const fail: RelayFailure = (res) => {
      res.statusCode = 502;
      res.end();
    };

    before(async () => {
      backend = http.createServer((req, res) => {
        if (req.url === '/refuse') {
          res.writeHead(413, { 'content-length': 3 });
          res.end('big');
          return;
        }
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(`read ${n}`));
      });
      const origin = `http://127.0.0.1:${await listen(backend)}`;
      pool = transport === 'raw' ? new Http1Pool(origin) : new Pool(origin);
      edge = http.createServer((req, res) => {
        const length = req.headers['content-length'];
        const body = length !== undefined ? req : undefined;
        const relay = new ResponseRelay(res, body, fail);
        pool.dispatch({ path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: length !== undefined ? ['content-length', length] : [], body }, relay);
      });
      edgePort = await listen(edge);
    });
    after(async () => {
      edge.closeAllConnections();
      await new Promise((resolve) => edge.close(resolve));
      await pool.close();
      backend.closeAllConnections();
      await new Promise((resolve) => backend.close(resolve));
    });

    it('the client gets the answer with Connection: close, and its connection closes', async () => {
      const c = client(edgePort);
      c.sock.write(`POST /refuse HTTP/1.1\r\nHost: edge\r\nContent-Length: ${BODY}\r\n\r\n`);
      c.sock.write(Buffer.alloc(100_000, 97));
      await waitUntil(() => answers(c.text).length === 1, STALL_MS);
      const [answer] = answers(c.text);
      assert.equal(answer!.status, 413);
      assert.match(answer!.head, /^connection: close$/m);
      // The rest of the body, and a second request the connection can no longer carry.
      c.sock.write(Buffer.alloc(BODY - 100_000, 97));
      c.sock.write('GET /after HTTP/1.1\r\nHost: edge\r\n\r\n');
      await waitUntil(() => c.closed, STALL_MS);
      assert.equal(answers(c.text).length, 1);
    });

    it('an upload the backend reads whole keeps the connection: the next request is answered on it', async () => {
      const c = client(edgePort);
      c.sock.write(`POST /read HTTP/1.1\r\nHost: edge\r\nContent-Length: ${BODY}\r\n\r\n`);
      c.sock.write(Buffer.alloc(100_000, 97));
      c.sock.write(Buffer.alloc(BODY - 100_000, 97));
      c.sock.write('GET /after HTTP/1.1\r\nHost: edge\r\n\r\n');
      await waitUntil(() => answers(c.text).length === 2, STALL_MS);
      const [first, second] = answers(c.text);
      assert.equal(first!.status, 200);
      assert.doesNotMatch(first!.head, /^connection: close$/m);
      assert.equal(second!.status, 200);
      assert.match(c.text, new RegExp(`read ${BODY}`));
      assert.equal(c.closed, false);
      c.sock.destroy();
    });
  });
}
